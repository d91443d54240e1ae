import { useCallback, useEffect, useState } from 'react';
import { listProviders, oidcStartUrl } from '../api/auth';
import { describeError } from '../api/errors';
import type { IdentityProvider } from '../api/types';
import { Redirect, safeReturnPath, useSearchParam } from '../app/router';
import { useAuth } from '../auth/AuthContext';
import { PasswordLoginForm } from '../auth/PasswordLoginForm';
import { Alert } from '../components/Alert';
import { PageTitle } from '../components/PageTitle';

/** LoginPage offers every identity provider the server has. */
export function LoginPage() {
  const { client, token, login, ended } = useAuth();
  const then = safeReturnPath(useSearchParam('then'));
  const [providers, setProviders] = useState<IdentityProvider[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    setLoadError(null);
    listProviders(client, abort.signal).then(setProviders, (error: unknown) => {
      if (!abort.signal.aborted) setLoadError(describeError(error));
    });
    return () => abort.abort();
  }, [client, attempt]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);

  if (token) return <Redirect to={then} />;

  const passwordProviders = providers?.filter((p) => p.type === 'password') ?? [];
  const oidcProviders = providers?.filter((p) => p.type === 'oidc') ?? [];

  return (
    <main id="main" className="login">
      <div className="login__card">
        <div className="login__brand">
          <img src="/favicon.svg" alt="" width={40} height={40} />
          <span>Slipway</span>
        </div>
        <PageTitle title="Log in">Log in to Slipway</PageTitle>
        {ended === 'expired' && <Alert variant="info">Your session has ended. Log in again to continue.</Alert>}
        {ended === 'logged-out' && <Alert variant="success">You have logged out.</Alert>}
        {loadError && (
          <Alert
            title="Cannot load the ways to log in"
            action={
              <button type="button" className="button button--secondary" onClick={retry}>
                Try again
              </button>
            }
          >
            {loadError}
          </Alert>
        )}
        {!providers && !loadError && (
          <p role="status" className="muted">
            Loading the ways to log in…
          </p>
        )}
        {passwordProviders.length > 0 && <PasswordLoginForm providers={passwordProviders} onLogin={login} />}
        {passwordProviders.length > 0 && oidcProviders.length > 0 && (
          <div className="login__or" role="separator">
            <span>or</span>
          </div>
        )}
        {oidcProviders.length > 0 && (
          <ul className="login__providers" aria-label="Single sign-on">
            {oidcProviders.map((p) => (
              <li key={p.name}>
                <a className="button button--secondary button--block" href={oidcStartUrl(client, p.name, then)}>
                  Log in with {p.name}
                </a>
              </li>
            ))}
          </ul>
        )}
        {providers && providers.length === 0 && (
          <Alert variant="info" title="No way to log in is configured">
            An administrator adds identity providers to the server's configuration.
          </Alert>
        )}
        <p className="login__footer muted">
          From a terminal: <code>slip login {window.location.origin}</code>
        </p>
      </div>
    </main>
  );
}
