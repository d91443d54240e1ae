const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** relativeTime says how long ago a moment was ("3 hours ago"). */
export function relativeTime(when: Date, now: Date = new Date()): string {
  const seconds = Math.round((when.getTime() - now.getTime()) / 1000);
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return 'just now';
}

/** RelativeTime shows a timestamp as "… ago", with the exact time on hover. */
export function RelativeTime({ timestamp }: { timestamp: string | undefined }) {
  if (!timestamp) return <span className="muted">—</span>;
  const when = new Date(timestamp);
  if (Number.isNaN(when.getTime())) return <span>{timestamp}</span>;
  return (
    <time dateTime={timestamp} title={absolute.format(when)}>
      {relativeTime(when)}
    </time>
  );
}
