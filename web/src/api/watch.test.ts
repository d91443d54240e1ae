import { describe, expect, it, vi } from 'vitest';
import { FakeServer, hang, status, stream } from '../test/fakeServer';
import { ApiClient } from './client';
import type { Project } from './types';
import { LineDecoder, parseWatchLine, watch } from './watch';

const encoder = new TextEncoder();

function event(type: string, name: string, rv: number): string {
  return JSON.stringify({ type, object: { metadata: { name, resourceVersion: String(rv) }, spec: {} } });
}

describe('LineDecoder', () => {
  it('joins a line split across chunks', () => {
    const decoder = new LineDecoder();
    expect(decoder.push('{"type":"ADD')).toEqual([]);
    expect(decoder.push('ED"}\n{"ty')).toEqual(['{"type":"ADDED"}']);
    expect(decoder.push('pe":"DELETED"}\n')).toEqual(['{"type":"DELETED"}']);
    expect(decoder.end()).toEqual([]);
  });

  it('gives several lines of one chunk, skipping blank lines and CRs', () => {
    const decoder = new LineDecoder();
    expect(decoder.push('a\r\n\nb\n\n c \n')).toEqual(['a', 'b', 'c']);
  });

  it('keeps a multi-byte character split between chunks', () => {
    const bytes = encoder.encode('{"name":"café"}\n');
    const cut = bytes.indexOf(0xc3) + 1; // inside "é"
    const decoder = new LineDecoder();
    expect(decoder.push(bytes.slice(0, cut))).toEqual([]);
    expect(decoder.push(bytes.slice(cut))).toEqual(['{"name":"café"}']);
  });

  it('returns a last line that has no newline at the end', () => {
    const decoder = new LineDecoder();
    expect(decoder.push('first\nlast')).toEqual(['first']);
    expect(decoder.end()).toEqual(['last']);
  });
});

describe('parseWatchLine', () => {
  it('decodes an event', () => {
    const parsed = parseWatchLine<Project>(event('MODIFIED', 'shop', 7));
    if (parsed.type !== 'MODIFIED') throw new Error(`parsed a ${parsed.type} event`);
    expect(parsed.object.metadata.resourceVersion).toBe('7');
  });

  it.each([
    ['not JSON', '{"type":'],
    ['not an object', '42'],
    ['an unknown type', '{"type":"RENAMED","object":{}}'],
    ['no object', '{"type":"ADDED"}'],
  ])('refuses %s', (_, line) => {
    expect(() => parseWatchLine(line)).toThrow();
  });
});

describe('watch', () => {
  function setup(server: FakeServer) {
    const client = new ApiClient({ token: () => 'secret', onUnauthorized: vi.fn(), fetch: server.fetch });
    const events: string[] = [];
    const onGone = vi.fn();
    const sleep = vi.fn(() => Promise.resolve());
    return { client, events, onGone, sleep };
  }

  it('streams events across chunk boundaries and resumes from the last revision', async () => {
    const server = new FakeServer();
    server.on(
      'GET /api/v1/projects',
      stream([event('ADDED', 'a', 10).slice(0, 15), `${event('ADDED', 'a', 10).slice(15)}\n${event('BOOKMARK', '', 11)}`, '\n']),
      stream([`${event('DELETED', 'a', 12)}\n`]),
      hang,
    );
    const { client, events, onGone, sleep } = setup(server);
    const stop = watch<Project>({
      client,
      path: '/api/v1/projects',
      resourceVersion: '5',
      onEvent: (e) => events.push(`${e.type} ${e.object.metadata.name}`),
      onGone,
      sleep,
    });
    await vi.waitFor(() => expect(events).toEqual(['ADDED a', 'DELETED a']));
    stop();
    const calls = server.callsTo('GET /api/v1/projects');
    expect(calls[0]?.url.searchParams.get('resourceVersion')).toBe('5');
    expect(calls[0]?.url.searchParams.get('watch')).toBe('true');
    expect(calls[0]?.headers.get('Authorization')).toBe('Bearer secret');
    // The bookmark moved the revision on.
    expect(calls[1]?.url.searchParams.get('resourceVersion')).toBe('11');
    expect(onGone).not.toHaveBeenCalled();
  });

  it('asks for a relist when the revision is gone', async () => {
    const server = new FakeServer().on('GET /api/v1/projects', status(410, 'Gone', 'too old'));
    const { client, onGone, sleep } = setup(server);
    watch<Project>({ client, path: '/api/v1/projects', resourceVersion: '1', onEvent: vi.fn(), onGone, sleep });
    await vi.waitFor(() => expect(onGone).toHaveBeenCalledTimes(1));
    expect(server.calls).toHaveLength(1);
  });

  it('reconnects with back-off after a failure, and after an ERROR event', async () => {
    const server = new FakeServer().on(
      'GET /api/v1/projects',
      status(503, 'Unavailable', 'restarting'),
      stream([`${event('ADDED', 'b', 20)}\n{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Gone","message":"too slow"}}\n`]),
      stream([`${event('MODIFIED', 'b', 21)}\n`]),
      hang,
    );
    const { client, events, onGone, sleep } = setup(server);
    const stop = watch<Project>({
      client,
      path: '/api/v1/projects',
      resourceVersion: '19',
      onEvent: (e) => events.push(`${e.type} ${e.object.metadata.name}`),
      onGone,
      sleep,
      initialBackoffMs: 100,
    });
    await vi.waitFor(() => expect(events).toEqual(['ADDED b', 'MODIFIED b']));
    stop();
    expect(sleep).toHaveBeenCalledWith(100, expect.anything());
    const revisions = server.calls.map((call) => call.url.searchParams.get('resourceVersion'));
    expect(revisions.slice(0, 3)).toEqual(['19', '19', '20']);
    expect(onGone).not.toHaveBeenCalled();
  });
});
