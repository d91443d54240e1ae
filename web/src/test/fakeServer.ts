// A stand-in for the Slipway API in component tests: answers by method and
// path, and records what the console asked.

export interface Call {
  method: string;
  url: URL;
  headers: Headers;
  body: unknown;
  signal: AbortSignal | undefined;
}

export type Answer = Response | ((call: Call) => Response | Promise<Response>);

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

export function status(code: number, reason: string, message: string): Response {
  return json({ kind: 'Status', code, reason, message }, code);
}

/** stream answers with the given chunks, then ends. */
export function stream(chunks: string[]): Response {
  const encoder = new TextEncoder();
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    }),
    { status: 200, headers: { 'Content-Type': 'application/json' } },
  );
}

/** hang answers a stream that stays open until the request is aborted. */
export function hang(call: Call): Response {
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        call.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
      },
    }),
    { status: 200 },
  );
}

export class FakeServer {
  readonly calls: Call[] = [];
  private readonly routes = new Map<string, Answer[]>();

  /** on queues answers for "METHOD /path"; the last one repeats. */
  on(route: string, ...answers: Answer[]): this {
    this.routes.set(route, answers);
    return this;
  }

  callsTo(route: string): Call[] {
    return this.calls.filter((call) => `${call.method} ${call.url.pathname}` === route);
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, 'https://slipway.test');
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    const call: Call = { method, url, headers: new Headers(init?.headers), body, signal: init?.signal ?? undefined };
    this.calls.push(call);
    const route = `${method} ${url.pathname}`;
    const answers = this.routes.get(route);
    if (!answers || answers.length === 0) return status(404, 'NotFound', `no fake answer for ${route}`);
    const answer = answers.length > 1 ? answers.shift() : answers[0];
    if (!answer) return status(404, 'NotFound', `no fake answer for ${route}`);
    return typeof answer === 'function' ? answer(call) : answer.clone();
  };
}

/** WatchFeed is a watch stream the test feeds event by event. */
export class WatchFeed {
  private controllers: ReadableStreamDefaultController<Uint8Array>[] = [];
  readonly answer = (call: Call): Response =>
    new Response(
      new ReadableStream<Uint8Array>({
        start: (controller) => {
          this.controllers.push(controller);
          call.signal?.addEventListener('abort', () => {
            this.controllers = this.controllers.filter((c) => c !== controller);
            controller.error(new DOMException('aborted', 'AbortError'));
          });
        },
      }),
    );

  get open(): number {
    return this.controllers.length;
  }

  send(type: string, object: unknown): void {
    const line = new TextEncoder().encode(`${JSON.stringify({ type, object })}\n`);
    for (const c of this.controllers) c.enqueue(line);
  }
}

/**
 * collection answers a list of items at revision rv, and a watch from the
 * feed when asked with watch=true.
 */
export function collection(items: unknown[], feed: WatchFeed = new WatchFeed(), rv = '100'): Answer {
  return (call) => {
    if (call.url.searchParams.get('watch')) return feed.answer(call);
    return json({ kind: 'List', metadata: { resourceVersion: rv }, items });
  };
}

/** signedIn prepares a session at the given page. */
export function signedIn(fake: FakeServer, path: string): void {
  fake.on('GET /api/v1/users/~', json({ metadata: { name: 'alice' }, spec: {} }));
  window.sessionStorage.setItem('slipway.token', 'slw_test');
  window.history.replaceState(null, '', path);
}
