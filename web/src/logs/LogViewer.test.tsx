import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../app/App';
import { collection, FakeServer, json, signedIn, type Call } from '../test/fakeServer';
import { deployment, pod } from '../test/objects';
import { LogBuffer, LogSplitter, matching } from './buffer';
import { logCapacity } from './LogViewer';

describe('LogBuffer and LogSplitter', () => {
  it('keeps the last lines and counts all', () => {
    const ring = new LogBuffer(3);
    ring.push(['a', 'b']);
    ring.push(['c', 'd', 'e']);
    expect(ring.lines()).toEqual(['c', 'd', 'e']);
    expect(ring.total).toBe(5);
    expect(ring.dropped).toBe(2);
  });

  it('splits chunks anywhere, keeps blank lines, cuts huge lines', () => {
    const s = new LogSplitter();
    const bytes = new TextEncoder().encode('héllo\r\n\nwor');
    expect(s.push(bytes.slice(0, 2))).toEqual([]);
    expect(s.push(bytes.slice(2))).toEqual(['héllo', '']);
    expect(s.push('ld\n')).toEqual(['world']);
    expect(s.push('x'.repeat(10_000) + '\n')[0]).toMatch(/ … \(1808 more characters\)$/);
    expect(s.push('tail')).toEqual([]);
    expect(s.end()).toEqual(['tail']);
    expect(matching(['Error one', 'fine', 'ERROR two'], 'error')).toEqual(['Error one', 'ERROR two']);
  });
});

/** A log of n numbered lines, streamed in chunks of about 64 KiB. */
function bigLog(n: number) {
  return (call: Call): Response => {
    const encoder = new TextEncoder();
    let i = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (call.signal?.aborted) return controller.close();
          let chunk = '';
          while (i < n && chunk.length < 65_536) chunk += `line ${i++} ${i % 1000 === 0 ? 'ERROR something broke' : 'all good'}\n`;
          if (chunk) controller.enqueue(encoder.encode(chunk));
          if (i >= n) controller.close();
        },
      }),
    );
  };
}

function open(log: (call: Call) => Response) {
  const fake = new FakeServer()
    .on('GET /api/v1', json({ resources: [] }))
    .on('GET /api/v1/projects/shop/deployments', collection([deployment('web', 30)]))
    .on('GET /api/v1/projects/shop/pods', collection([pod('web-a', 'web')]))
    .on('GET /api/v1/projects/shop/pods/web-a/log', log);
  signedIn(fake, '/projects/shop/apps/web/logs?pod=web-a');
  render(<App fetch={fake.fetch} />);
  return fake;
}

describe('LogViewer', () => {
  it('streams a big log with only a window of lines in the DOM', async () => {
    const lines = 120_000; // about 3 MB
    const fake = open(bigLog(lines));
    const status = await screen.findByTestId('log-status');
    await waitFor(() => expect(status.textContent).toContain(`Ended · ${lines.toLocaleString()} lines`), { timeout: 20_000 });
    expect(fake.callsTo('GET /api/v1/projects/shop/pods/web-a/log')[0]?.url.searchParams.get('follow')).toBe('true');
    expect(status.textContent).toContain(`showing the last ${logCapacity.toLocaleString()}`);
    const view = screen.getByRole('log', { name: 'Log of web-a' });
    expect(view.querySelectorAll('.logs__line').length).toBeLessThan(200);

    fireEvent.change(screen.getByLabelText('Search the log'), { target: { value: 'error' } });
    await waitFor(() => expect(status.textContent).toContain('50 match'));
    fireEvent.click(screen.getByLabelText('Wrap lines'));
    expect(view.querySelectorAll('.logs__line').length).toBe(50);
    expect(view.querySelector('.logs__line')?.textContent).toBe('line 70999 ERROR something broke');
  }, 30_000);

  it('pauses the view while the stream goes on, and follows again', async () => {
    let push: ((text: string) => void) | undefined;
    open((call) =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            push = (text) => controller.enqueue(new TextEncoder().encode(text));
            call.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
          },
        }),
      ),
    );
    const status = await screen.findByTestId('log-status');
    await waitFor(() => expect(push).toBeDefined());
    push!('one\n');
    await waitFor(() => expect(status.textContent).toBe('Streaming · 1 line'));
    push!('two\n');
    await waitFor(() => expect(status.textContent).toBe('Streaming · 2 lines'));
    fireEvent.click(screen.getByRole('button', { name: 'Pause' }));
    push!('three\n');
    expect(await screen.findByRole('button', { name: 'Follow (1 new)' })).toBeTruthy();
    expect(status.textContent).toBe('Streaming · 2 lines');
    fireEvent.click(screen.getByRole('button', { name: 'Follow (1 new)' }));
    await waitFor(() => expect(status.textContent).toBe('Streaming · 3 lines'));
    expect(screen.getByRole('log').textContent).toContain('three');
  });

  it('says why the log cannot be read', async () => {
    open(() => json({ kind: 'Status', code: 503, reason: 'Unavailable', message: 'node "n1" does not answer: Unavailable' }, 503));
    expect((await screen.findByRole('alert')).textContent).toContain('Node "n1" does not answer');
    expect(screen.getByRole('button', { name: 'Reconnect' })).toBeTruthy();
  });
});
