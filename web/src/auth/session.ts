// The session's token lives in sessionStorage: it lasts while the tab does,
// is not shared with other tabs, and is never sent as a cookie.

const tokenKey = 'slipway.token';

export function readToken(): string | null {
  try {
    return window.sessionStorage.getItem(tokenKey);
  } catch {
    return null;
  }
}

export function storeToken(token: string): void {
  try {
    window.sessionStorage.setItem(tokenKey, token);
  } catch {
    // Storage refused: the session lasts until the page reloads.
  }
}

export function clearToken(): void {
  try {
    window.sessionStorage.removeItem(tokenKey);
  } catch {
    // Nothing stored.
  }
}

/**
 * takeTokenFromFragment reads the token that a browser login (OIDC) leaves
 * in the URL's fragment ("#token=…"), keeps it, and removes it from the
 * address bar and history so it is not bookmarked or shared.
 */
export function takeTokenFromFragment(): string | null {
  const hash = window.location.hash;
  if (!hash.startsWith('#')) return null;
  const params = new URLSearchParams(hash.slice(1));
  const token = params.get('token');
  if (!token) return null;
  storeToken(token);
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  return token;
}
