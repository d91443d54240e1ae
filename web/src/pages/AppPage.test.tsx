import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../app/App';
import { collection, FakeServer, json, signedIn, status, WatchFeed } from '../test/fakeServer';
import { deployment, pod, replicaSet, route, service } from '../test/objects';

function open(path: string, setup?: (fake: FakeServer) => void) {
  const feed = new WatchFeed();
  const fake = new FakeServer()
    .on('GET /api/v1', json({ resources: [] }))
    .on('GET /api/v1/projects/shop/deployments', collection([deployment('web', 30, { replicas: 2, ready: 2, revision: 3, image: 'registry/web:3' })], feed))
    .on('GET /api/v1/projects/shop/pods', collection([pod('web-a', 'web'), pod('web-b', 'web', { phase: 'Pending', ready: false, restarts: 4, waiting: 'CrashLoopBackOff' })]))
    .on('GET /api/v1/projects/shop/replicasets', collection([replicaSet('web', 1, 'registry/web:1', 0), replicaSet('web', 2, 'registry/web:2', 0), replicaSet('web', 3, 'registry/web:3', 2)]))
    .on('GET /api/v1/projects/shop/services', collection([service('web')]))
    .on('GET /api/v1/projects/shop/routes', collection([route('web', 'web', 'web.apps.test'), route('web-2', 'web', 'taken.apps.test', true, false)]));
  setup?.(fake);
  signedIn(fake, path);
  render(<App fetch={fake.fetch} />);
  return { fake, feed };
}

describe('AppPage', () => {
  it('lists the pods with phase, readiness and restarts, with links to their logs', async () => {
    open('/projects/shop/apps/web');
    const table = await screen.findByRole('table', { name: 'Pods' });
    await waitFor(() => expect(table.querySelectorAll('tbody tr[data-pod]')).toHaveLength(2));
    const crashing = within(table.querySelector<HTMLElement>('tr[data-pod="web-b"]')!);
    expect(crashing.getByText('Pending')).toBeTruthy();
    expect(crashing.getByText('CrashLoopBackOff')).toBeTruthy();
    expect(crashing.getByText('4')).toBeTruthy();
    expect(crashing.getByText('0/1')).toBeTruthy();
    expect(crashing.getByRole('link', { name: 'Logs of web-b' }).getAttribute('href')).toBe('/projects/shop/apps/web/logs?pod=web-b');
  });

  it('scales with a merge patch of the scale subresource, and says why it failed', async () => {
    const { fake } = open('/projects/shop/apps/web', (f) =>
      f.on('PATCH /api/v1/projects/shop/deployments/web/scale', json({ spec: { replicas: 3 } }), status(403, 'Forbidden', 'user "bob" may not patch deployments/scale in project "shop": Forbidden')),
    );
    const scale = await screen.findByRole('form', { name: 'Scale' });
    fireEvent.click(within(scale).getByRole('button', { name: 'One pod more' }));
    await waitFor(() => expect(fake.callsTo('PATCH /api/v1/projects/shop/deployments/web/scale')).toHaveLength(1));
    const call = fake.callsTo('PATCH /api/v1/projects/shop/deployments/web/scale')[0]!;
    expect(call.body).toEqual({ spec: { replicas: 3 } });
    expect(call.headers.get('Content-Type')).toBe('application/merge-patch+json');

    const input = within(scale).getByLabelText('Desired pods');
    fireEvent.change(input, { target: { value: 'lots' } });
    fireEvent.click(within(scale).getByRole('button', { name: 'Scale' }));
    expect((await within(scale).findByRole('alert')).textContent).toBe('Enter a whole number of pods.');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(fake.callsTo('PATCH /api/v1/projects/shop/deployments/web/scale')).toHaveLength(1);

    fireEvent.change(input, { target: { value: '5' } });
    fireEvent.click(within(scale).getByRole('button', { name: 'Scale' }));
    await waitFor(() => expect(within(scale).getByRole('alert').textContent).toContain('User "bob" may not patch deployments/scale'));
  });

  it('lists revisions newest first and rolls back with one click', async () => {
    const { fake } = open('/projects/shop/apps/web/history', (f) =>
      f.on('POST /api/v1/projects/shop/deployments/web/rollback', json(deployment('web', 40, { revision: 4 }))),
    );
    const table = await screen.findByRole('table', { name: 'Revisions' });
    await waitFor(() => expect([...table.querySelectorAll('tbody tr')].map((r) => r.getAttribute('data-revision'))).toEqual(['3', '2', '1']));
    expect(within(table.querySelector<HTMLElement>('tr[data-revision="3"]')!).getByText('Current')).toBeTruthy();
    expect(within(table.querySelector<HTMLElement>('tr[data-revision="3"]')!).queryByRole('button')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Roll back to revision 1' }));
    await waitFor(() => expect(fake.callsTo('POST /api/v1/projects/shop/deployments/web/rollback')[0]?.body).toEqual({ toRevision: 1 }));
    expect(await screen.findByText(/Rolling back to revision 1/)).toBeTruthy();
  });

  it('shows a refused rollback next to its revision', async () => {
    open('/projects/shop/apps/web/history', (f) =>
      f.on('POST /api/v1/projects/shop/deployments/web/rollback', status(422, 'Invalid', 'toRevision: deployment "web" has no revision 2: Invalid')),
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Roll back to revision 2' }));
    const row = document.querySelector<HTMLElement>('tr[data-revision="2"]')!;
    expect((await within(row).findByRole('alert')).textContent).toContain('has no revision 2');
  });

  it('edits the environment: validates, then patches the containers on condition of the version', async () => {
    const { fake } = open('/projects/shop/apps/web/environment', (f) =>
      f.on('PATCH /api/v1/projects/shop/deployments/web', json(deployment('web', 31)), status(409, 'Conflict', 'deployment "web" was changed (resourceVersion 31, not 30): Conflict')),
    );
    const form = await screen.findByRole('form', { name: 'Environment variables' });
    expect((within(form).getByLabelText('Name of variable 1') as HTMLInputElement).value).toBe('MODE');
    fireEvent.click(within(form).getByRole('button', { name: 'Add variable' }));
    fireEvent.change(within(form).getByLabelText('Name of variable 2'), { target: { value: '2BAD' } });
    fireEvent.change(within(form).getByLabelText('Value of variable 2'), { target: { value: 'x' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect(await within(form).findByText(/Start with a letter or _/)).toBeTruthy();
    expect(fake.callsTo('PATCH /api/v1/projects/shop/deployments/web')).toHaveLength(0);

    fireEvent.change(within(form).getByLabelText('Name of variable 2'), { target: { value: 'GREETING' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await screen.findByText(/Saved: the app rolls out/);
    expect(fake.callsTo('PATCH /api/v1/projects/shop/deployments/web')[0]?.body).toEqual({
      metadata: { resourceVersion: '30' },
      spec: { template: { spec: { containers: [{ name: 'web', image: 'registry/web:3', env: [{ name: 'MODE', value: 'prod' }, { name: 'GREETING', value: 'x' }] }] } } },
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect((await within(form).findByRole('alert')).textContent).toContain('Deployment "web" was changed');
  });

  it('lists routes with their admission and creates an edge route', async () => {
    const { fake } = open('/projects/shop/apps/web/routes', (f) =>
      f.on('POST /api/v1/projects/shop/routes', (call) => json({ ...(call.body as object), metadata: { name: 'web-tls', resourceVersion: '50' } }, 201)),
    );
    const table = await screen.findByRole('table', { name: 'Routes' });
    await waitFor(() => expect(table.querySelectorAll('tbody tr[data-route]')).toHaveLength(2));
    expect(within(table.querySelector<HTMLElement>('tr[data-route="web"]')!).getByText('Admitted')).toBeTruthy();
    expect(within(table.querySelector<HTMLElement>('tr[data-route="web-2"]')!).getByText(/Refused by default: host is taken/)).toBeTruthy();

    const form = screen.getByRole('form', { name: 'Create a route' });
    fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'web-tls' } });
    fireEvent.change(within(form).getByLabelText('Host'), { target: { value: 'https://Shop' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create route' }));
    expect(await within(form).findByText(/Enter a host name/)).toBeTruthy();
    expect(fake.callsTo('POST /api/v1/projects/shop/routes')).toHaveLength(0);
    fireEvent.change(within(form).getByLabelText('Host'), { target: { value: 'shop.apps.test' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create route' }));
    await within(form).findByText(/Route web-tls created/);
    expect(fake.callsTo('POST /api/v1/projects/shop/routes')[0]?.body).toEqual({
      kind: 'Route',
      apiVersion: 'v1',
      metadata: { name: 'web-tls' },
      spec: { to: { kind: 'Service', name: 'web' }, host: 'shop.apps.test', tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' } },
    });
  });
});
