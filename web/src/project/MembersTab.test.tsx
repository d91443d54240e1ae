import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { RoleBinding } from '../api/types';
import { App } from '../app/App';
import { collection, FakeServer, json, signedIn, status, WatchFeed } from '../test/fakeServer';

function binding(name: string, role: string, subjects: RoleBinding['spec']['subjects'], rv = 5): RoleBinding {
  return { kind: 'RoleBinding', metadata: { name, resourceVersion: String(rv) }, spec: { roleRef: { kind: 'ClusterRole', name: role }, subjects } };
}

function open(bindings: RoleBinding[], setup?: (fake: FakeServer) => void) {
  const feed = new WatchFeed();
  const fake = new FakeServer().on('GET /api/v1/projects/shop/rolebindings', collection(bindings, feed));
  setup?.(fake);
  signedIn(fake, '/projects/shop/members');
  render(<App fetch={fake.fetch} />);
  return { fake, feed };
}

function memberRows(): string[] {
  return [...document.querySelectorAll('tr[data-member]')].map((r) => r.getAttribute('data-member') ?? '');
}

describe('MembersTab', () => {
  it('lists who holds which role, one row per subject', async () => {
    open([binding('admin', 'admin', [{ kind: 'User', name: 'alice' }]), binding('devs', 'edit', [{ kind: 'Group', name: 'developers' }, { kind: 'User', name: 'bob' }])]);
    await waitFor(() => expect(memberRows()).toEqual(['User:alice:admin', 'User:bob:edit', 'Group:developers:edit']));
  });

  it('checks the name, then grants a role and shows it live', async () => {
    const { fake, feed } = open([binding('admin', 'admin', [{ kind: 'User', name: 'alice' }])], (f) =>
      f.on('POST /api/v1/projects/shop/rolebindings', (call) => json(call.body, 201)),
    );
    const form = await screen.findByRole('form', { name: 'Grant a role' });
    fireEvent.change(within(form).getByLabelText('User name'), { target: { value: 'Bob Smith' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Grant' }));
    expect(await within(form).findByText(/Not a valid user name/)).toBeTruthy();
    expect(fake.callsTo('POST /api/v1/projects/shop/rolebindings')).toHaveLength(0);

    fireEvent.change(within(form).getByLabelText('User name'), { target: { value: 'bob' } });
    fireEvent.change(within(form).getByLabelText('Role'), { target: { value: 'edit' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Grant' }));
    expect(await within(form).findByText('User bob is now edit of shop.')).toBeTruthy();
    const sent = fake.callsTo('POST /api/v1/projects/shop/rolebindings')[0]?.body as RoleBinding;
    expect(sent.spec).toEqual({ roleRef: { kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'User', name: 'bob' }] });
    expect(sent.metadata.name).toMatch(/^edit-user-bob-[a-z0-9]+$/);
    feed.send('ADDED', { ...sent, metadata: { ...sent.metadata, resourceVersion: '9' } });
    await waitFor(() => expect(memberRows()).toContain('User:bob:edit'));
  });

  it('revokes: deletes a binding of one subject, updates a binding of several, shows refusals', async () => {
    const devs = binding('devs', 'edit', [{ kind: 'Group', name: 'developers' }, { kind: 'User', name: 'bob' }], 7);
    const { fake } = open([binding('viewer', 'view', [{ kind: 'User', name: 'carol' }]), devs], (f) =>
      f
        .on('DELETE /api/v1/projects/shop/rolebindings/viewer', json({}))
        .on('PUT /api/v1/projects/shop/rolebindings/devs', status(403, 'Forbidden', 'user "alice" may not update rolebindings: Forbidden')),
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Revoke view from user carol' }));
    await waitFor(() => expect(fake.callsTo('DELETE /api/v1/projects/shop/rolebindings/viewer')[0]?.url.searchParams.get('resourceVersion')).toBe('5'));
    fireEvent.click(screen.getByRole('button', { name: 'Revoke edit from user bob' }));
    const row = document.querySelector<HTMLElement>('tr[data-member="User:bob:edit"]')!;
    expect((await within(row).findByRole('alert')).textContent).toContain('User "alice" may not update rolebindings');
    expect((fake.callsTo('PUT /api/v1/projects/shop/rolebindings/devs')[0]?.body as RoleBinding).spec.subjects).toEqual([{ kind: 'Group', name: 'developers' }]);
  });

  it('tells a member who may not read bindings why the list is missing', async () => {
    const fake = new FakeServer().on('GET /api/v1/projects/shop/rolebindings', status(403, 'Forbidden', 'forbidden: Forbidden'));
    signedIn(fake, '/projects/shop/members');
    render(<App fetch={fake.fetch} />);
    expect(await screen.findByText('Only the project’s admins can see and change its members.')).toBeTruthy();
  });
});
