import { useEffect, useId, useState } from 'react';
import { freshToken } from '../api/auth';
import { describeError } from '../api/errors';
import { useAuth } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { CopyButton } from '../components/CopyButton';
import { PageTitle } from '../components/PageTitle';

const masked = '•'.repeat(24);

/** loginCommand is what a terminal runs to use this session. */
export function loginCommand(origin: string, token: string): string {
  return `slip login ${origin} --token ${token}`;
}

/**
 * CopyLoginCommandPage hands the CLI a fresh token of the user's own (it
 * outlives this browser session: logging out here does not log the
 * terminal out). The token is hidden until asked for, and copied without
 * being shown.
 */
export function CopyLoginCommandPage() {
  const { client } = useAuth();
  const [token, setToken] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [shown, setShown] = useState(false);
  const origin = window.location.origin;
  const tokenId = useId();
  const commandId = useId();

  useEffect(() => {
    let live = true;
    freshToken(client).then(
      (result) => live && setToken(result.token),
      (err: unknown) => live && setError(describeError(err)),
    );
    return () => {
      live = false;
    };
  }, [client]);

  if (error) {
    return (
      <section className="page__section page__section--narrow">
        <PageTitle>Login command</PageTitle>
        <Alert>Could not get a token for the terminal: {error}</Alert>
      </section>
    );
  }
  if (!token) return <p className="muted">Requesting a token…</p>;

  const command = loginCommand(origin, token);
  const visibleCommand = loginCommand(origin, shown ? token : masked);

  return (
    <section className="page__section page__section--narrow">
      <PageTitle>Login command</PageTitle>
      <p className="lead">
        Log in from a terminal with a token of your own, issued just now. Anyone who has it acts as you until it expires or
        you revoke it.
      </p>

      <h2 id={commandId} className="section__title">
        Command
      </h2>
      <div className="copyable">
        <code className="copyable__text" aria-labelledby={commandId} data-testid="login-command">
          {visibleCommand}
        </code>
        <CopyButton text={command} label="Copy command" failure="The browser refused to copy. Show the token and copy it by hand." />
      </div>

      <h2 id={tokenId} className="section__title">
        Token
      </h2>
      <div className="copyable">
        <code className="copyable__text" aria-labelledby={tokenId} data-testid="login-token">
          {shown ? token : masked}
        </code>
        <button type="button" className="button button--secondary" aria-pressed={shown} onClick={() => setShown((s) => !s)}>
          {shown ? 'Hide token' : 'Show token'}
        </button>
        <CopyButton text={token} label="Copy token" failure="The browser refused to copy. Show the token and copy it by hand." />
      </div>

      <p className="muted">
        Get the CLI, <code>slip</code>, from your administrator. If the server's certificate is signed by a private CA, add{' '}
        <code>--certificate-authority ca.crt</code>.
      </p>
    </section>
  );
}
