import type { WatchState } from '../api/watch';

const liveLabels: Record<WatchState | 'stopped', string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: 'Paused',
};

/** LiveIndicator says whether a page's watch is delivering changes. */
export function LiveIndicator({ state }: { state: WatchState | 'stopped' }) {
  const live = state === 'live';
  return (
    <span className={`live ${live ? 'live--on' : 'live--off'}`} title={live ? 'Changes appear as they happen' : 'Live updates are not flowing'}>
      <span className="live__dot" aria-hidden="true" />
      {liveLabels[state]}
    </span>
  );
}
