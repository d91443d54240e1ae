import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../app/App';
import { FakeServer, hang, json, status } from '../test/fakeServer';

function server(providers: unknown[]): FakeServer {
  return new FakeServer()
    .on('GET /auth/providers', json({ providers }))
    .on('GET /api/v1/users/~', json({ metadata: { name: 'alice' }, spec: { displayName: 'Alice Liddell' } }))
    .on('GET /api/v1/projects', (call) =>
      call.url.searchParams.get('watch') ? hang(call) : json({ kind: 'ProjectList', metadata: { resourceVersion: '3' }, items: [] }),
    );
}

function openAt(path: string, fake: FakeServer) {
  window.history.replaceState(null, '', path);
  return render(<App fetch={fake.fetch} />);
}

const local = { name: 'local', type: 'password' };

describe('LoginPage', () => {
  it('says what is missing and sends nothing', async () => {
    const fake = server([local]);
    openAt('/login', fake);
    fireEvent.click(await screen.findByRole('button', { name: 'Log in' }));
    expect(await screen.findByText('Enter your user name.')).toBeTruthy();
    expect(screen.getByText('Enter your password.')).toBeTruthy();
    const user = screen.getByLabelText('User name');
    expect(user.getAttribute('aria-invalid')).toBe('true');
    expect(user.getAttribute('aria-describedby')).toBe(screen.getByText('Enter your user name.').id);
    expect(document.activeElement).toBe(user);
    expect(fake.callsTo('POST /auth/login')).toHaveLength(0);
  });

  it('shows the server’s message when the login is refused', async () => {
    const fake = server([local]).on('POST /auth/login', status(429, 'TooManyRequests', 'too many failed logins: try again in 30s: TooManyRequests'));
    openAt('/login', fake);
    fireEvent.change(await screen.findByLabelText('User name'), { target: { value: 'alice' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'wrong' } });
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Too many failed logins: try again in 30s');
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('');
    expect(window.sessionStorage.getItem('slipway.token')).toBeNull();
  });

  it('logs in, keeps the token and opens the page asked for', async () => {
    const fake = server([local]).on('POST /auth/login', json({ token: 'slw_abc', user: 'alice', expiresAt: '2030-01-01T00:00:00Z' }));
    openAt('/login?then=%2Flogin-command', fake);
    fireEvent.change(await screen.findByLabelText('User name'), { target: { value: ' alice ' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'secret' } });
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByRole('heading', { name: 'Login command', level: 1 })).toBeTruthy();
    expect(window.location.pathname).toBe('/login-command');
    expect(window.sessionStorage.getItem('slipway.token')).toBe('slw_abc');
    expect(fake.callsTo('POST /auth/login')[0]?.body).toEqual({ provider: 'local', username: 'alice', password: 'secret' });
    expect(await screen.findByText('Alice Liddell')).toBeTruthy();
  });

  it('offers a provider selector when there are several', async () => {
    const fake = server([local, { name: 'ldap', type: 'password' }]).on(
      'POST /auth/login',
      json({ token: 't', user: 'bob', expiresAt: '2030-01-01T00:00:00Z' }),
    );
    openAt('/login', fake);
    const select = (await screen.findByLabelText('Identity provider')) as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(['local', 'ldap']);
    fireEvent.change(select, { target: { value: 'ldap' } });
    fireEvent.change(screen.getByLabelText('User name'), { target: { value: 'bob' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'pw' } });
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(fake.callsTo('POST /auth/login')).toHaveLength(1));
    expect(fake.callsTo('POST /auth/login')[0]?.body).toEqual({ provider: 'ldap', username: 'bob', password: 'pw' });
  });

  it('links to each OIDC provider, returning to the console', async () => {
    openAt('/login', server([{ name: 'corp sso', type: 'oidc' }]));
    const link = await screen.findByRole('link', { name: 'Log in with corp sso' });
    expect(link.getAttribute('href')).toBe('/auth/oidc/corp%20sso/start?then=%2Fprojects');
    expect(screen.queryByLabelText('Password')).toBeNull();
  });

  it('takes the token a browser login leaves in the fragment', async () => {
    const fake = server([local]);
    openAt('/projects#token=slw_from_oidc', fake);
    expect(await screen.findByRole('heading', { name: 'Projects', level: 1 })).toBeTruthy();
    expect(window.sessionStorage.getItem('slipway.token')).toBe('slw_from_oidc');
    expect(window.location.hash).toBe('');
    await waitFor(() => expect(fake.callsTo('GET /api/v1/users/~')[0]?.headers.get('Authorization')).toBe('Bearer slw_from_oidc'));
  });

  it('sends an anonymous visitor to the login page', async () => {
    openAt('/projects', server([local]));
    expect(await screen.findByRole('heading', { name: 'Log in to Slipway' })).toBeTruthy();
    expect(window.location.pathname + window.location.search).toBe('/login?then=%2Fprojects');
  });
});
