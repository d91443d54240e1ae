import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { BuildConfig } from '../api/builds';
import { App } from '../app/App';
import { collection, FakeServer, json, signedIn, status, WatchFeed } from '../test/fakeServer';
import { build, deployment } from '../test/objects';

const bc: BuildConfig = {
  kind: 'BuildConfig',
  metadata: { name: 'web', resourceVersion: '8' },
  spec: {
    source: { git: { uri: 'https://git.test/web.git', ref: 'main' } },
    strategy: { sourceStrategy: { from: { kind: 'ImageStreamTag', namespace: 'slipway-system', name: 's2i-go:latest' } } },
    output: { to: { kind: 'ImageStreamTag', name: 'web:latest' } },
    triggers: [
      { type: 'GitHub', github: { secret: 'abcdef0123456789', signingSecret: 'k' } },
      { type: 'Generic', generic: { secretReference: { name: 'hooks' } } },
    ],
  },
  status: {
    lastVersion: 2,
    webhookDeliveries: [
      { time: '2026-01-01T00:00:00Z', type: 'GitHub', event: 'push', ref: 'refs/heads/dev', result: 'Ignored', reason: 'push to refs/heads/dev, the build follows main' },
      { time: '2026-01-01T00:01:00Z', type: 'GitHub', event: 'push', ref: 'refs/heads/main', result: 'Triggered', build: 'web-2' },
    ],
  },
};

function open(setup?: (f: FakeServer) => void) {
  const builds = new WatchFeed();
  const fake = new FakeServer()
    .on('GET /api/v1', json({ resources: [{ name: 'buildconfigs' }, { name: 'builds' }] }))
    .on('GET /api/v1/projects/shop/deployments', collection([deployment('web', 30)]))
    .on('GET /api/v1/projects/shop/buildconfigs', collection([bc]))
    .on('GET /api/v1/projects/shop/builds', collection([build('web', 1, 'Complete'), build('web', 2, 'Running')], builds))
    .on('GET /api/v1/projects/shop/builds/web-2/log', () => new Response('step 1\nstep 2\n'));
  setup?.(fake);
  signedIn(fake, '/projects/shop/apps/web/builds');
  render(<App fetch={fake.fetch} />);
  return { fake, builds };
}

describe('BuildsTab', () => {
  it('lists builds newest first with the newest’s log, webhook URLs and deliveries', async () => {
    const { fake } = open();
    const table = await screen.findByRole('table', { name: 'Builds' });
    await waitFor(() => expect([...table.querySelectorAll('tr[data-build]')].map((r) => r.getAttribute('data-build'))).toEqual(['web-2', 'web-1']));
    expect(fake.callsTo('GET /api/v1/projects/shop/builds')[0]?.url.searchParams.get('labelSelector')).toBe('slipway.io/buildconfig=web');
    await waitFor(() => expect(screen.getByRole('log', { name: 'Log of web-2' }).textContent).toContain('step 2'));
    expect(within(table.querySelector<HTMLElement>('tr[data-build="web-1"]')!).queryByRole('button', { name: /Cancel/ })).toBeNull();
    expect(document.querySelector('[data-webhook="GitHub"]')?.textContent).toBe(`${window.location.origin}/api/v1/projects/shop/buildconfigs/web/webhooks/abcdef0123456789/github`);
    expect(screen.getByRole('button', { name: 'Copy the GitHub webhook URL' })).toBeTruthy();
    expect(screen.getByText(/The secret is in the Secret hooks/)).toBeTruthy();
    const deliveries = screen.getByRole('table', { name: 'Webhook deliveries' });
    const rows = [...deliveries.querySelectorAll('tbody tr')].map((r) => r.textContent ?? '');
    expect(rows[0]).toContain('Triggered');
    expect(rows[1]).toContain('push to refs/heads/dev, the build follows main');
  });

  it('starts and cancels builds, and says why a start was refused', async () => {
    const { fake } = open((f) =>
      f
        .on('POST /api/v1/projects/shop/buildconfigs/web/instantiate', json(build('web', 3, 'New'), 201), status(403, 'Forbidden', 'user "v" cannot create buildconfigs/instantiate: Forbidden'))
        .on('PATCH /api/v1/projects/shop/builds/web-2', json(build('web', 2, 'Cancelled'))),
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Cancel build web-2' }));
    await waitFor(() => expect(fake.callsTo('PATCH /api/v1/projects/shop/builds/web-2')[0]?.body).toEqual({ spec: { cancelled: true } }));
    fireEvent.click(screen.getByRole('button', { name: 'Start build' }));
    await waitFor(() => expect(document.querySelector('tr[data-build="web-3"]')).toBeTruthy());
    expect(await screen.findByText(/Build web-3 is waiting to be scheduled/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Start build' }));
    expect((await screen.findByRole('alert')).textContent).toContain('User "v" cannot create buildconfigs/instantiate');
  });
});
