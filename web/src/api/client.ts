import { ApiError, isStatus } from './errors';
import type { Status } from './types';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Send no token and do not treat 401 as a lost session (logins). */
  anonymous?: boolean;
  /** The body's media type (default application/json). */
  contentType?: string;
  /** A POST that may be sent again after a network failure (a login). */
  repeatable?: boolean;
}

/** The media type of a JSON merge patch (RFC 7386), which PATCH takes. */
export const mergePatchType = 'application/merge-patch+json';

export interface ClientOptions {
  /** The session's token, or null when logged out. */
  token: () => string | null;
  /** Called when the server refuses the token: the session is over. */
  onUnauthorized: () => void;
  /** Defaults to the global fetch; tests inject their own. */
  fetch?: typeof fetch;
  /** Prefix of every path; the console talks to its own origin. */
  baseUrl?: string;
  /**
   * Waits before retrying a request that failed at the network level;
   * tests inject their own.
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * retryDelaysMs are the waits before each new attempt of a request that
 * never reached an answer (a browser on a node sees the network change
 * whenever a pod starts: Chromium aborts requests in flight with
 * net::ERR_NETWORK_CHANGED). A POST is repeated only when the caller says
 * it may be (it may have been carried out).
 */
const retryDelaysMs = [250, 500, 1000];

/**
 * ApiClient is the console's only way to the server: it adds the token,
 * sends and reads JSON, and turns every failure into an ApiError with the
 * server's Status.
 */
export class ApiClient {
  private readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  post<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, body });
  }

  put<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('PUT', path, { ...options, body });
  }

  /** patch sends a JSON merge patch: objects merge, arrays are replaced. */
  patch<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('PATCH', path, { ...options, body, contentType: mergePatchType });
  }

  delete<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('DELETE', path, options);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await response.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(badAnswer(response, 'the answer is not JSON'));
    }
  }

  /**
   * open sends a request and returns the successful response unread, for
   * streams (watches, logs). Failures throw ApiError like request does.
   */
  open(path: string, options: RequestOptions = {}): Promise<Response> {
    return this.send('GET', path, options);
  }

  url(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') params.set(key, String(value));
    }
    const search = params.toString();
    return (this.options.baseUrl ?? '') + path + (search ? `?${search}` : '');
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = options.anonymous ? null : this.options.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      body = JSON.stringify(options.body);
    }
    const doFetch = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    const sleep = this.options.sleep ?? abortableSleep;
    let response: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        response = await doFetch(this.url(path, options.query), {
          method,
          headers,
          body,
          signal: options.signal,
          credentials: 'same-origin',
          cache: 'no-store',
        });
        break;
      } catch (error) {
        if (error instanceof DOMException && error.name === 'AbortError') throw error;
        const delay = retryDelaysMs[attempt];
        if ((method !== 'POST' || options.repeatable) && delay !== undefined && !options.signal?.aborted) {
          await sleep(delay, options.signal);
          continue;
        }
        const detail = error instanceof Error ? error.message : String(error);
        throw new ApiError({ kind: 'Status', code: 0, reason: 'Unavailable', message: `Cannot reach the server: ${detail}` });
      }
    }
    if (response.ok) return response;
    const status = await readStatus(response);
    if (response.status === 401 && !options.anonymous) this.options.onUnauthorized();
    throw new ApiError(status);
  }
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function readStatus(response: Response): Promise<Status> {
  try {
    const body: unknown = await response.json();
    if (isStatus(body)) return body;
  } catch {
    // Not JSON: a proxy's page, say. Describe the answer instead.
  }
  return badAnswer(response, response.statusText || 'the request failed');
}

function badAnswer(response: Response, what: string): Status {
  return {
    kind: 'Status',
    code: response.status,
    reason: `HTTP${response.status}`,
    message: `The server answered ${response.status}: ${what}`,
  };
}
