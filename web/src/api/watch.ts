import type { ApiClient, Query } from './client';
import { ApiError } from './errors';
import type { ApiObject, WatchEvent } from './types';

/**
 * LineDecoder splits a byte stream into lines. Chunks may end anywhere,
 * including inside a line or inside a multi-byte character; blank lines
 * are dropped.
 */
export class LineDecoder {
  private readonly decoder = new TextDecoder();
  private rest = '';

  /** push returns the lines that the chunk completes. */
  push(chunk: Uint8Array | string): string[] {
    this.rest += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const parts = this.rest.split('\n');
    this.rest = parts.pop() ?? '';
    return parts.map(trimLine).filter((line) => line !== '');
  }

  /** end returns the last line when the stream closed without a newline. */
  end(): string[] {
    const last = trimLine(this.rest + this.decoder.decode());
    this.rest = '';
    return last === '' ? [] : [last];
  }
}

function trimLine(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1).trim() : line.trim();
}

const eventTypes = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/** parseWatchLine decodes one line of a watch stream, or throws. */
export function parseWatchLine<T extends ApiObject>(line: string): WatchEvent<T> {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null) throw new Error(`watch event is not an object: ${line.slice(0, 80)}`);
  const { type, object } = value as { type?: unknown; object?: unknown };
  if (typeof type !== 'string' || !eventTypes.has(type) || typeof object !== 'object' || object === null) {
    throw new Error(`malformed watch event: ${line.slice(0, 80)}`);
  }
  return value as WatchEvent<T>;
}

export type WatchState = 'connecting' | 'live' | 'reconnecting';

export interface WatchOptions<T extends ApiObject> {
  client: ApiClient;
  /** The collection, e.g. /api/v1/projects. */
  path: string;
  /** Extra query parameters, e.g. labelSelector. */
  query?: Query;
  /** Changes after this revision are streamed (the list's revision). */
  resourceVersion: string;
  onEvent: (event: Exclude<WatchEvent<T>, { type: 'BOOKMARK' | 'ERROR' }>) => void;
  /** The revision is too old: the caller must list again and re-watch. */
  onGone: () => void;
  /** The watch cannot go on (forbidden, say); it has stopped. */
  onFailure?: (error: ApiError) => void;
  onState?: (state: WatchState) => void;
  /** Waits between reconnections; injected by tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * watch follows a collection's changes until the returned function is
 * called. It reconnects from the last revision it saw (bookmarks included)
 * with exponential back-off, and hands a 410 Gone to onGone.
 */
export function watch<T extends ApiObject>(options: WatchOptions<T>): () => void {
  const controller = new AbortController();
  void run(options, controller.signal);
  return () => controller.abort();
}

async function run<T extends ApiObject>(options: WatchOptions<T>, signal: AbortSignal): Promise<void> {
  const sleep = options.sleep ?? abortableSleep;
  const initial = options.initialBackoffMs ?? 1000;
  const max = options.maxBackoffMs ?? 30_000;
  let resourceVersion = options.resourceVersion;
  let failures = 0;
  options.onState?.('connecting');
  while (!signal.aborted) {
    let lines = 0;
    try {
      const response = await options.client.open(options.path, {
        query: { ...options.query, watch: 'true', resourceVersion },
        signal,
      });
      options.onState?.('live');
      for await (const line of readLines(response, signal)) {
        lines++;
        const event = parseWatchLine<T>(line);
        if (event.type === 'ERROR') {
          // The server dropped this watch (it fell behind): resume from the
          // last revision; a revision too old answers 410 on reconnection.
          break;
        }
        resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
        if (event.type !== 'BOOKMARK') options.onEvent(event);
      }
      failures = lines > 0 ? 0 : failures + 1;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError) {
        if (error.code === 410) {
          options.onGone();
          return;
        }
        if (error.code === 401 || error.code === 403 || error.code === 404) {
          // The client already ended the session on 401; the others will
          // not heal by retrying.
          options.onFailure?.(error);
          return;
        }
      }
      failures++;
    }
    if (signal.aborted) return;
    options.onState?.('reconnecting');
    if (failures > 0) {
      await sleep(Math.min(max, initial * 2 ** (failures - 1)), signal);
    }
  }
}

async function* readLines(response: Response, signal: AbortSignal): AsyncGenerator<string> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new LineDecoder();
  try {
    while (!signal.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* decoder.push(value);
    }
    yield* decoder.end();
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
