import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Project } from '../api/types';
import { App } from '../app/App';
import { FakeServer, json, status, type Call } from '../test/fakeServer';

function project(name: string, rv: number, displayName?: string): Project {
  return {
    metadata: { name, resourceVersion: String(rv), creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: displayName ? { displayName } : {},
    status: { phase: 'Active' },
  };
}

/** A watch that the test feeds line by line. */
class WatchFeed {
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  readonly answer = (call: Call): Response =>
    new Response(
      new ReadableStream<Uint8Array>({
        start: (controller) => {
          this.controller = controller;
          call.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
        },
      }),
    );

  send(type: string, object: Project): void {
    this.controller?.enqueue(new TextEncoder().encode(`${JSON.stringify({ type, object })}\n`));
  }
}

function openProjects(items: Project[], more?: { continueToken: string; items: Project[] }) {
  const feed = new WatchFeed();
  const fake = new FakeServer()
    .on('GET /api/v1/users/~', json({ metadata: { name: 'alice' }, spec: {} }))
    .on('GET /api/v1/projects', (call) => {
      if (call.url.searchParams.get('watch')) return feed.answer(call);
      if (more && call.url.searchParams.get('continue') === more.continueToken) {
        return json({ kind: 'ProjectList', metadata: { resourceVersion: '11' }, items: more.items });
      }
      return json({ kind: 'ProjectList', metadata: { resourceVersion: '10', continue: more?.continueToken }, items });
    });
  window.sessionStorage.setItem('slipway.token', 'slw_test');
  window.history.replaceState(null, '', '/projects');
  render(<App fetch={fake.fetch} />);
  return { fake, feed };
}

function rowNames(): string[] {
  return [...document.querySelectorAll('tbody tr')].map((row) => row.getAttribute('data-project') ?? '');
}

describe('ProjectsPage', () => {
  it('lists, filters, and loads further pages to find matches', async () => {
    const { fake } = openProjects([project('billing', 3, 'Invoices'), project('shop', 4, 'Online shop')], {
      continueToken: 'page2',
      items: [project('shop-staging', 5)],
    });
    // The table wants more rows than the first page had: the second page follows.
    await waitFor(() => expect(rowNames()).toEqual(['billing', 'shop', 'shop-staging']));
    expect(fake.callsTo('GET /api/v1/projects')[0]?.url.searchParams.get('limit')).toBe('200');
    fireEvent.change(screen.getByLabelText('Filter projects by name'), { target: { value: 'SHOP' } });
    expect(rowNames()).toEqual(['shop', 'shop-staging']);
    expect(screen.getByText('2 projects match “SHOP”')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Filter projects by name'), { target: { value: 'invoices' } });
    expect(rowNames()).toEqual(['billing']);
    fireEvent.change(screen.getByLabelText('Filter projects by name'), { target: { value: 'nothing' } });
    expect(screen.getByText('No project matches “nothing”.')).toBeTruthy();
  });

  it('follows the watch without reloading', async () => {
    const { fake, feed } = openProjects([project('a', 3)]);
    await waitFor(() => expect(rowNames()).toEqual(['a']));
    await waitFor(() => expect(fake.calls.some((c) => c.url.searchParams.get('watch') === 'true')).toBe(true));
    const watchCall = fake.calls.find((c) => c.url.searchParams.get('watch') === 'true');
    expect(watchCall?.url.searchParams.get('resourceVersion')).toBe('10');
    feed.send('ADDED', project('b', 11, 'Bee'));
    await waitFor(() => expect(rowNames()).toEqual(['a', 'b']));
    feed.send('DELETED', project('a', 12));
    await waitFor(() => expect(rowNames()).toEqual(['b']));
  });

  it('checks the name before creating, and shows the server’s refusal', async () => {
    const { fake } = openProjects([]);
    fireEvent.click((await screen.findAllByRole('button', { name: 'Create project' }))[0] as HTMLElement);
    const dialog = await screen.findByRole('dialog', { name: 'Create a project' });
    const name = within(dialog).getByLabelText('Name');
    fireEvent.change(name, { target: { value: 'My_Project' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Create' }));
    expect(await within(dialog).findByText('Use lower-case letters only.')).toBeTruthy();
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(fake.callsTo('POST /api/v1/projects')).toHaveLength(0);

    fake.on('POST /api/v1/projects', status(409, 'AlreadyExists', 'project "taken" already exists: AlreadyExists'));
    fireEvent.change(name, { target: { value: 'taken' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Create' }));
    expect((await within(dialog).findByRole('alert')).textContent).toContain('Project "taken" already exists');
    expect(fake.callsTo('POST /api/v1/projects')[0]?.body).toEqual({ kind: 'Project', apiVersion: 'v1', metadata: { name: 'taken' }, spec: {} });
  });

  it('suggests a name from the display name and creates', async () => {
    const { fake } = openProjects([]);
    fake.on('POST /api/v1/projects', json(project('online-shop', 20, 'Online Shop'), 201));
    fireEvent.click((await screen.findAllByRole('button', { name: 'Create project' }))[0] as HTMLElement);
    const dialog = await screen.findByRole('dialog', { name: 'Create a project' });
    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'Online Shop' } });
    expect((within(dialog).getByLabelText('Name') as HTMLInputElement).value).toBe('online-shop');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(rowNames()).toEqual(['online-shop']));
    expect(screen.getByText('Project online-shop created.')).toBeTruthy();
  });

  it('deletes only after the name is typed', async () => {
    const { fake } = openProjects([project('shop', 3)]);
    fake.on('DELETE /api/v1/projects/shop', json(project('shop', 4), 202));
    fireEvent.click(await screen.findByRole('button', { name: 'Delete project shop' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete project?' });
    const confirm = within(dialog).getByRole('button', { name: 'Delete' }) as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText('Type shop to confirm'), { target: { value: 'shop' } });
    expect(confirm.disabled).toBe(false);
    fireEvent.click(confirm);
    await waitFor(() => expect(fake.callsTo('DELETE /api/v1/projects/shop')).toHaveLength(1));
    expect(await screen.findByText('Terminating')).toBeTruthy();
  });
});
