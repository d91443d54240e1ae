import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { describeError } from '../api/errors';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { LogBuffer, LogSplitter, matching } from './buffer';

/** Lines kept in memory; older ones are dropped (Download has them all). */
export const logCapacity = 50_000;
/** With wrapping on, lines have no fixed height: only the last ones are shown. */
export const wrappedWindow = 1000;
const lineHeight = 20;
const viewportHeight = 480;
const overscan = 20;
const flushEveryMs = 100;
/** The longest run of reading before the page gets to draw. */
const sliceMs = 12;

/** yieldToPage lets the event loop run (timers, input, drawing). */
function yieldToPage(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

type StreamState = 'connecting' | 'streaming' | 'ended' | 'failed';

export interface LogViewerProps {
  /** The log subresource: …/pods/{name}/log or …/builds/{name}/log. */
  path: string;
  /** What the log is of, for its label and the downloaded file's name. */
  name: string;
  container?: string;
}

/**
 * LogViewer follows a pod's or build's log (…/log?follow=true) through
 * fetch and a ReadableStream. Lines go into a bounded ring and reach the
 * screen at most ten times a second; only the lines in view are in the
 * DOM, so a 100 MB log streams without freezing the page.
 */
export function LogViewer({ path, name, container }: LogViewerProps) {
  const client = useApi();
  const buffer = useRef(new LogBuffer(logCapacity));
  const [version, setVersion] = useState(0);
  const [following, setFollowing] = useState(true);
  const [frozen, setFrozen] = useState<{ lines: string[]; total: number } | null>(null);
  const [search, setSearch] = useState('');
  const [wrap, setWrap] = useState(false);
  const [state, setState] = useState<StreamState>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [downloadError, setDownloadError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    const ring = buffer.current;
    ring.clear();
    setVersion((v) => v + 1);
    setState('connecting');
    setError(null);
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      setVersion((v) => v + 1);
    };
    const schedule = () => {
      if (timer === null) timer = setTimeout(flush, flushEveryMs);
    };
    void (async () => {
      try {
        const response = await client.open(path, { query: { follow: true, container }, signal: abort.signal });
        setState('streaming');
        const reader = response.body?.getReader();
        const splitter = new LogSplitter();
        if (reader) {
          try {
            let slice = performance.now();
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              ring.push(splitter.push(value));
              schedule();
              // Chunks already received resolve read() at once, as
              // microtasks: without a pause now and then a fast stream
              // would keep the page from drawing until it ends.
              if (performance.now() - slice > sliceMs) {
                await yieldToPage();
                slice = performance.now();
              }
            }
          } finally {
            void reader.cancel().catch(() => undefined);
          }
        }
        ring.push(splitter.end());
        if (!abort.signal.aborted) {
          setState('ended');
          flush();
        }
      } catch (failure) {
        if (abort.signal.aborted) return;
        setState('failed');
        setError(describeError(failure));
        flush();
      }
    })();
    return () => {
      abort.abort();
      if (timer !== null) clearTimeout(timer);
    };
  }, [client, path, container, attempt]);

  // The lines on screen and their count, taken together at the last flush
  // (the ring fills in between): the live ring, or the snapshot taken at pause.
  const { lines: source, total } = useMemo(
    () => frozen ?? { lines: buffer.current.lines(), total: buffer.current.total },
    [frozen, version], // eslint-disable-line react-hooks/exhaustive-deps
  );
  const shown = useMemo(() => matching(source, search), [source, search]);
  const newSincePause = frozen ? buffer.current.total - frozen.total : 0;

  const pause = useCallback(() => {
    setFollowing(false);
    setFrozen({ lines: buffer.current.lines(), total: buffer.current.total });
  }, []);
  const resume = useCallback(() => {
    setFrozen(null);
    setFollowing(true);
  }, []);

  // Following keeps the newest line in view.
  useEffect(() => {
    const element = scroller.current;
    if (following && element) {
      element.scrollTop = element.scrollHeight;
      setScrollTop(element.scrollTop);
    }
  }, [following, shown, wrap]);

  const onScroll = () => {
    const element = scroller.current;
    if (!element) return;
    setScrollTop(element.scrollTop);
    // Scrolling up to read pauses the view; the stream goes on.
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < lineHeight * 2;
    if (following && !atBottom && element.scrollHeight > element.clientHeight) pause();
  };

  const download = async () => {
    setDownloadError(null);
    try {
      const response = await client.open(path, { query: { container } });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const anchor = document.createElement('a');
      anchor.href = url;
      anchor.download = `${name}${container ? `-${container}` : ''}.log`;
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (failure) {
      setDownloadError(describeError(failure));
    }
  };

  let body;
  if (wrap) {
    const window = shown.length > wrappedWindow ? shown.slice(-wrappedWindow) : shown;
    body = (
      <div className="logs__lines logs__lines--wrap">
        {shown.length > wrappedWindow && <p className="logs__note">Wrapping shows the last {wrappedWindow.toLocaleString()} lines; turn it off to scroll through all.</p>}
        {window.map((line, i) => (
          <div key={shown.length - window.length + i} className="logs__line">
            {line || '\u00a0'}
          </div>
        ))}
      </div>
    );
  } else {
    const first = Math.max(0, Math.floor(scrollTop / lineHeight) - overscan);
    const last = Math.min(shown.length, Math.ceil((scrollTop + viewportHeight) / lineHeight) + overscan);
    const lines = [];
    for (let i = first; i < last; i++) {
      lines.push(
        <div key={i} className="logs__line" style={{ transform: `translateY(${i * lineHeight}px)` }}>
          {shown[i] || '\u00a0'}
        </div>,
      );
    }
    body = (
      <div className="logs__lines" style={{ height: shown.length * lineHeight }}>
        {lines}
      </div>
    );
  }

  const dropped = Math.max(0, total - source.length);
  return (
    <div className="logs">
      <div className="logs__toolbar" role="toolbar" aria-label="Log controls">
        {following ? (
          <button type="button" className="button button--secondary" onClick={pause}>
            Pause
          </button>
        ) : (
          <button type="button" className="button button--primary" onClick={resume}>
            {newSincePause > 0 ? `Follow (${newSincePause.toLocaleString()} new)` : 'Follow'}
          </button>
        )}
        <label className="logs__search">
          <span className="visually-hidden">Search the log</span>
          <input type="search" placeholder="Search" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} />
          Wrap lines
        </label>
        <button type="button" className="button button--secondary" onClick={() => void download()}>
          Download
        </button>
        <span className="logs__status" role="status" aria-live="polite" data-testid="log-status">
          {stateText(state)} · {total.toLocaleString()} {total === 1 ? 'line' : 'lines'}
          {search.trim() ? ` · ${shown.length.toLocaleString()} ${shown.length === 1 ? 'match' : 'matches'}` : ''}
          {dropped > 0 ? ` · showing the last ${source.length.toLocaleString()}` : ''}
        </span>
      </div>
      {downloadError && <Alert title="Cannot download the log">{downloadError}</Alert>}
      {error && (
        <Alert
          title="The log stopped"
          action={
            <button type="button" className="button button--secondary" onClick={() => setAttempt((a) => a + 1)}>
              Reconnect
            </button>
          }
        >
          {error}
        </Alert>
      )}
      <div
        ref={scroller}
        className={`logs__view${wrap ? ' logs__view--wrap' : ''}`}
        tabIndex={0}
        role="log"
        aria-label={`Log of ${name}`}
        aria-live="off"
        onScroll={onScroll}
        style={{ height: viewportHeight }}
      >
        {body}
      </div>
    </div>
  );
}

function stateText(state: StreamState): string {
  switch (state) {
    case 'connecting':
      return 'Connecting…';
    case 'streaming':
      return 'Streaming';
    case 'ended':
      return 'Ended';
    case 'failed':
      return 'Stopped';
  }
}
