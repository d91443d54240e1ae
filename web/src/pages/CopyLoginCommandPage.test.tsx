import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { App } from '../app/App';
import { FakeServer, json } from '../test/fakeServer';

describe('CopyLoginCommandPage', () => {
  it('asks for a fresh token, hides it until asked, and copies the whole command', async () => {
    const writeText = vi.fn(() => Promise.resolve());
    vi.spyOn(navigator, 'clipboard', 'get').mockReturnValue({ writeText } as unknown as Clipboard);
    const fake = new FakeServer()
      .on('GET /api/v1/users/~', json({ metadata: { name: 'alice' }, spec: {} }))
      .on('POST /auth/token', json({ token: 'slw_fresh', user: 'alice', expiresAt: '2030-01-01T00:00:00Z' }));
    window.sessionStorage.setItem('slipway.token', 'slw_secret');
    window.history.replaceState(null, '', '/login-command');
    render(<App fetch={fake.fetch} />);

    const command = await screen.findByTestId('login-command');
    const origin = window.location.origin;
    expect(command.textContent).toMatch(new RegExp(`^slip login ${origin} --token •+$`));
    expect(document.body.textContent).not.toContain('slw_fresh');
    expect(document.body.textContent).not.toContain('slw_secret');

    const toggle = screen.getByRole('button', { name: 'Show token' });
    expect(toggle.getAttribute('aria-pressed')).toBe('false');
    fireEvent.click(toggle);
    expect(command.textContent).toBe(`slip login ${origin} --token slw_fresh`);
    expect(screen.getByRole('button', { name: 'Hide token' }).getAttribute('aria-pressed')).toBe('true');

    fireEvent.click(screen.getByRole('button', { name: 'Copy command' }));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith(`slip login ${origin} --token slw_fresh`));
    expect(await screen.findByRole('button', { name: 'Copied' })).toBeTruthy();
  });
});
