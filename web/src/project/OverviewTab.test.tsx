import { render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../app/App';
import { collection, FakeServer, json, signedIn, WatchFeed } from '../test/fakeServer';
import { build, deployment, route, service } from '../test/objects';
import { overviewMarks } from './OverviewTab';

function rows(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>('[role="rowgroup"] [data-row]')];
}

function open(options: { apps: ReturnType<typeof deployment>[]; builds?: boolean }) {
  const feed = new WatchFeed();
  const routeFeed = new WatchFeed();
  const resources = ['deployments', 'services', 'routes', ...(options.builds ? ['builds'] : [])].map((name) => ({ name, kind: name, projectScoped: true }));
  const fake = new FakeServer()
    .on('GET /api/v1', json({ kind: 'APIResourceList', resources }))
    .on('GET /api/v1/projects/shop/deployments', collection(options.apps, feed))
    .on('GET /api/v1/projects/shop/services', collection([service('web'), service('api')]))
    .on('GET /api/v1/projects/shop/routes', collection([route('web', 'web', 'web.apps.test'), route('api-plain', 'api', 'api.apps.test', false)], routeFeed))
    .on('GET /api/v1/projects/shop/builds', collection([build('web', 1, 'Complete'), build('web', 2, 'Running')]));
  signedIn(fake, '/projects/shop');
  render(<App fetch={fake.fetch} />);
  return { fake, feed, routeFeed };
}

afterEach(() => {
  performance.clearMeasures();
});

describe('OverviewTab', () => {
  it('shows each app’s pods, rollout, last build and route URLs', async () => {
    open({ apps: [deployment('web', 10, { replicas: 3, ready: 2, updated: 1 }), deployment('api', 11), deployment('idle', 12, { replicas: 0 })], builds: true });
    await waitFor(() => expect(rows().map((r) => r.dataset.row)).toEqual(['api', 'idle', 'web']));
    const web = within(rows()[2]!);
    expect(web.getByLabelText('2 of 3 pods ready')).toBeTruthy();
    expect(web.getByText('Rolling out')).toBeTruthy();
    expect(web.getByText('1/3 updated')).toBeTruthy();
    expect((await web.findByRole('link', { name: /web-2/ })).textContent).toContain('Running');
    expect(web.getByRole('link', { name: 'https://web.apps.test' }).getAttribute('href')).toBe('https://web.apps.test');
    const api = within(rows()[0]!);
    expect(api.getByText('Running')).toBeTruthy();
    expect(api.getByRole('link', { name: 'http://api.apps.test' })).toBeTruthy();
    expect(api.getByText('No builds')).toBeTruthy();
    expect(within(rows()[1]!).getByText('Scaled to zero')).toBeTruthy();
    expect(screen.getByRole('columnheader', { name: 'Last build' })).toBeTruthy();
  });

  it('shows no build column when the server has no builds resource', async () => {
    open({ apps: [deployment('web', 10)] });
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(screen.queryByRole('columnheader', { name: 'Last build' })).toBeNull();
  });

  it('follows the watches: new apps, changed pods, new routes, deleted apps', async () => {
    const { fake, feed, routeFeed } = open({ apps: [deployment('web', 10, { replicas: 2, ready: 0 })] });
    await waitFor(() => expect(rows()).toHaveLength(1));
    await waitFor(() => expect(fake.calls.filter((c) => c.url.searchParams.get('watch')).length).toBeGreaterThanOrEqual(3));
    feed.send('MODIFIED', deployment('web', 13, { replicas: 2, ready: 2 }));
    await waitFor(() => expect(within(rows()[0]!).getByLabelText('2 of 2 pods ready')).toBeTruthy());
    feed.send('ADDED', deployment('api', 14));
    await waitFor(() => expect(rows().map((r) => r.dataset.row)).toEqual(['api', 'web']));
    routeFeed.send('ADDED', route('api', 'api', 'api.apps.test'));
    await waitFor(() => expect(within(rows()[0]!).getByRole('link', { name: 'https://api.apps.test' })).toBeTruthy());
    feed.send('DELETED', deployment('web', 15));
    await waitFor(() => expect(rows().map((r) => r.dataset.row)).toEqual(['api']));
  });

  it('renders 200 apps windowed, and an event touches only its row', async () => {
    const apps = Array.from({ length: 200 }, (_, i) => deployment(`app-${String(i).padStart(3, '0')}`, 10 + i, { replicas: 2, ready: 1 }));
    const { fake, feed } = open({ apps });
    await screen.findByText('200 apps');
    const mounted = rows();
    expect(mounted.length).toBeGreaterThan(5);
    expect(mounted.length).toBeLessThan(40);
    expect(screen.getByRole('table', { name: 'Apps' }).getAttribute('aria-rowcount')).toBe('201');
    const firstRender = performance.getEntriesByName(overviewMarks.listToRender)[0];
    expect(firstRender).toBeTruthy();
    await waitFor(() => expect(fake.calls.filter((c) => c.url.searchParams.get('watch')).length).toBeGreaterThanOrEqual(3));

    const touched = new Set<string>();
    const observer = new MutationObserver((records) => {
      for (const record of records) {
        const row = (record.target instanceof Element ? record.target : record.target.parentElement)?.closest<HTMLElement>('[data-row]');
        touched.add(row?.dataset.row ?? 'outside a row');
      }
    });
    const body = document.querySelector('.vtable__spacer')!;
    observer.observe(body, { subtree: true, childList: true, characterData: true, attributes: true });
    feed.send('MODIFIED', deployment('app-003', 500, { replicas: 2, ready: 2 }));
    await waitFor(() => expect(within(rows()[3]!).getByLabelText('2 of 2 pods ready')).toBeTruthy());
    observer.disconnect();
    expect([...touched]).toEqual(['app-003']);
    const update = performance.getEntriesByName(overviewMarks.update)[0];
    expect(update).toBeTruthy();
    console.log(`overview, 200 apps (happy-dom): list→rows ${firstRender!.duration.toFixed(1)} ms, event→row ${update!.duration.toFixed(1)} ms`);
  });
});
