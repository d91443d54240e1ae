import { describe, expect, it, vi } from 'vitest';
import { FakeServer, json, status } from '../test/fakeServer';
import { ApiClient } from './client';
import { ApiError, describeError } from './errors';

describe('ApiClient', () => {
  it('sends the token and JSON, and reads JSON', async () => {
    const server = new FakeServer().on('POST /api/v1/projects', json({ metadata: { name: 'shop' } }, 201));
    const client = new ApiClient({ token: () => 't0k', onUnauthorized: vi.fn(), fetch: server.fetch });
    const created = await client.post<{ metadata: { name: string } }>('/api/v1/projects', { metadata: { name: 'shop' } });
    expect(created.metadata.name).toBe('shop');
    const call = server.calls[0];
    expect(call?.headers.get('Authorization')).toBe('Bearer t0k');
    expect(call?.headers.get('Content-Type')).toBe('application/json');
    expect(call?.body).toEqual({ metadata: { name: 'shop' } });
  });

  it('throws the server Status, and ends the session on 401', async () => {
    const onUnauthorized = vi.fn();
    const server = new FakeServer().on('GET /api/v1/users/~', status(401, 'Unauthorized', 'token expired'));
    const client = new ApiClient({ token: () => 'old', onUnauthorized, fetch: server.fetch });
    const error = await client.get('/api/v1/users/~').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe(401);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('does not end the session when a login is refused', async () => {
    const onUnauthorized = vi.fn();
    const server = new FakeServer().on('POST /auth/login', status(401, 'Unauthorized', 'login failed: Unauthorized'));
    const client = new ApiClient({ token: () => null, onUnauthorized, fetch: server.fetch });
    await expect(client.post('/auth/login', {}, { anonymous: true })).rejects.toThrow('login failed');
    expect(onUnauthorized).not.toHaveBeenCalled();
    expect(server.calls[0]?.headers.get('Authorization')).toBeNull();
  });

  it('describes an answer that is not a Status', async () => {
    const server = new FakeServer().on('GET /api/v1/projects', new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    const client = new ApiClient({ token: () => 't', onUnauthorized: vi.fn(), fetch: server.fetch });
    const error = await client.get('/api/v1/projects').catch((e: unknown) => e);
    expect(describeError(error)).toBe('The server answered 502: Bad Gateway');
  });

  it('turns a network failure into a Status after retrying', async () => {
    const fetch = vi.fn(() => Promise.reject(new TypeError('Failed to fetch')));
    const sleep = vi.fn(() => Promise.resolve());
    const client = new ApiClient({ token: () => 't', onUnauthorized: vi.fn(), fetch, sleep });
    const error = await client.get('/api/v1/projects').catch((e: unknown) => e);
    expect(describeError(error)).toBe('Cannot reach the server: Failed to fetch');
    expect(fetch).toHaveBeenCalledTimes(4);
    expect(sleep.mock.calls.map((c: unknown[]) => c[0])).toEqual([250, 500, 1000]);
  });

  it('retries a request the network dropped, but never a POST', async () => {
    const server = new FakeServer().on('GET /api/v1/projects', json({ items: [] })).on('PATCH /api/v1/projects/shop', json({}));
    let drops = 2;
    const fetch: typeof globalThis.fetch = (input, init) =>
      drops-- > 0 ? Promise.reject(new TypeError('Failed to fetch')) : server.fetch(input, init);
    const client = new ApiClient({ token: () => 't', onUnauthorized: vi.fn(), fetch, sleep: () => Promise.resolve() });
    await expect(client.get('/api/v1/projects')).resolves.toEqual({ items: [] });
    drops = 1;
    await expect(client.patch('/api/v1/projects/shop', {})).resolves.toEqual({});
    drops = 1;
    const post = await client.post('/api/v1/projects', {}).catch((e: unknown) => e);
    expect(describeError(post)).toBe('Cannot reach the server: Failed to fetch');
    expect(server.calls.map((c) => c.method)).toEqual(['GET', 'PATCH']);
  });

  it('leaves empty query parameters out', () => {
    const client = new ApiClient({ token: () => null, onUnauthorized: vi.fn() });
    expect(client.url('/api/v1/projects', { limit: 10, continue: undefined, labelSelector: '' })).toBe('/api/v1/projects?limit=10');
  });
});

describe('describeError', () => {
  it.each([
    ['drops the class the server appends', 'project "x" not found: NotFound', 'NotFound', 'Project "x" not found'],
    ['keeps a message without it', 'too many attempts, try again later', 'TooManyRequests', 'Too many attempts, try again later'],
  ])('%s', (_, message, reason, want) => {
    expect(describeError(new ApiError({ kind: 'Status', code: 400, reason, message }))).toBe(want);
  });
});
