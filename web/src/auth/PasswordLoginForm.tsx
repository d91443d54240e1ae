import { useRef, useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import type { IdentityProvider } from '../api/types';
import { Alert } from '../components/Alert';
import { Field } from '../components/Field';
import type { PasswordLogin } from '../api/auth';

export interface PasswordLoginFormProps {
  /** The password providers; a selector appears when there are several. */
  providers: IdentityProvider[];
  onLogin: (login: PasswordLogin) => Promise<void>;
}

interface FieldErrors {
  username?: string;
  password?: string;
}

export function validateLogin(username: string, password: string): FieldErrors {
  const errors: FieldErrors = {};
  if (username.trim() === '') errors.username = 'Enter your user name.';
  if (password === '') errors.password = 'Enter your password.';
  return errors;
}

/** PasswordLoginForm logs in with a user name and password. */
export function PasswordLoginForm({ providers, onLogin }: PasswordLoginFormProps) {
  const [provider, setProvider] = useState(providers[0]?.name ?? '');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const usernameRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (submitting) return;
    const found = validateLogin(username, password);
    setErrors(found);
    setFailure(null);
    if (found.username) {
      usernameRef.current?.focus();
      return;
    }
    if (found.password) {
      passwordRef.current?.focus();
      return;
    }
    setSubmitting(true);
    try {
      await onLogin({ provider: providers.length > 1 ? provider : providers[0]?.name, username: username.trim(), password });
    } catch (error) {
      setFailure(describeError(error));
      setPassword('');
      setSubmitting(false);
      passwordRef.current?.focus();
    }
  };

  return (
    <form className="form" onSubmit={(event) => void submit(event)} noValidate aria-label="Log in with a password">
      {failure && (
        <Alert id="login-failure">{failure}</Alert>
      )}
      {providers.length > 1 && (
        <Field label="Identity provider">
          {(control) => (
            <select {...control} value={provider} onChange={(event) => setProvider(event.target.value)}>
              {providers.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      <Field label="User name" error={errors.username} required>
        {(control) => (
          <input
            {...control}
            ref={usernameRef}
            name="username"
            type="text"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            value={username}
            onChange={(event) => setUsername(event.target.value)}
          />
        )}
      </Field>
      <Field label="Password" error={errors.password} required>
        {(control) => (
          <input
            {...control}
            ref={passwordRef}
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        )}
      </Field>
      <button type="submit" className="button button--primary button--block" disabled={submitting}>
        {submitting ? 'Logging in…' : 'Log in'}
      </button>
    </form>
  );
}
