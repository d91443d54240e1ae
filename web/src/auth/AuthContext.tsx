import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import * as authApi from '../api/auth';
import { ApiClient } from '../api/client';
import type { User } from '../api/types';
import { clearToken, readToken, storeToken, takeTokenFromFragment } from './session';

/** Why the last session ended, for the login page to say. */
export type SessionEnd = 'expired' | 'logged-out' | null;

interface AuthValue {
  client: ApiClient;
  token: string | null;
  /** The user's display name, or the user name until it is known. */
  userName: string | null;
  user: User | null;
  ended: SessionEnd;
  login: (login: authApi.PasswordLogin) => Promise<void>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

export interface AuthProviderProps {
  children: ReactNode;
  /** Tests inject the server. */
  fetch?: typeof fetch;
}

/**
 * AuthProvider holds the session: the token, who it belongs to, and the API
 * client that uses it. A 401 from any request ends the session.
 */
export function AuthProvider({ children, fetch }: AuthProviderProps) {
  const [token, setToken] = useState<string | null>(() => takeTokenFromFragment() ?? readToken());
  const [loginName, setLoginName] = useState<string | null>(null);
  const [user, setUser] = useState<User | null>(null);
  const [ended, setEnded] = useState<SessionEnd>(null);
  const tokenRef = useRef(token);

  const end = useCallback((why: SessionEnd) => {
    tokenRef.current = null;
    clearToken();
    setToken(null);
    setUser(null);
    setLoginName(null);
    setEnded(why);
  }, []);

  const client = useMemo(
    () => new ApiClient({ token: () => tokenRef.current, onUnauthorized: () => end('expired'), fetch }),
    [end, fetch],
  );

  useEffect(() => {
    if (!token) return;
    const abort = new AbortController();
    authApi.currentUser(client, abort.signal).then(setUser, () => {
      // A 401 already ended the session; otherwise the header shows the
      // login name and the pages report their own errors.
    });
    return () => abort.abort();
  }, [client, token]);

  const login = useCallback(
    async (credentials: authApi.PasswordLogin) => {
      const result = await authApi.passwordLogin(client, credentials);
      storeToken(result.token);
      tokenRef.current = result.token;
      setLoginName(result.user);
      setEnded(null);
      setToken(result.token);
    },
    [client],
  );

  const logout = useCallback(async () => {
    try {
      await authApi.logout(client);
    } catch {
      // The token is dropped here whatever the server said.
    }
    end('logged-out');
  }, [client, end]);

  const userName = user ? user.spec.displayName || user.metadata.name : loginName;
  const value = useMemo(
    () => ({ client, token, userName, user, ended, login, logout }),
    [client, token, userName, user, ended, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth outside <AuthProvider>');
  return value;
}

/** useApi returns the session's API client. */
export function useApi(): ApiClient {
  return useAuth().client;
}
