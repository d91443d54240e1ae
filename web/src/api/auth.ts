import type { ApiClient } from './client';
import type { IdentityProvider, LoginResult, User } from './types';

export async function listProviders(client: ApiClient, signal?: AbortSignal): Promise<IdentityProvider[]> {
  const answer = await client.get<{ providers: IdentityProvider[] | null }>('/auth/providers', { anonymous: true, signal });
  return answer.providers ?? [];
}

export interface PasswordLogin {
  provider?: string;
  username: string;
  password: string;
}

export function passwordLogin(client: ApiClient, login: PasswordLogin): Promise<LoginResult> {
  const body: PasswordLogin = { username: login.username, password: login.password };
  if (login.provider) body.provider = login.provider;
  // A second login after a dropped one only mints another token.
  return client.post<LoginResult>('/auth/login', body, { anonymous: true, repeatable: true });
}

/** oidcStartUrl is where the browser goes to log in with an OIDC provider. */
export function oidcStartUrl(client: ApiClient, provider: string, then: string): string {
  return client.url(`/auth/oidc/${encodeURIComponent(provider)}/start`, { then });
}

/** freshToken issues a new token of the user's own, for a terminal: it
 * outlives this browser session. */
export function freshToken(client: ApiClient): Promise<LoginResult> {
  return client.post<LoginResult>('/auth/token', undefined);
}

/** logout revokes the session's token on the server. */
export function logout(client: ApiClient): Promise<unknown> {
  return client.post<unknown>('/auth/logout', undefined);
}

export function currentUser(client: ApiClient, signal?: AbortSignal): Promise<User> {
  return client.get<User>('/api/v1/users/~', { signal });
}
