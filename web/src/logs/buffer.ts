// The log viewer's memory: a ring of the last lines, and a splitter that
// turns a byte stream into them. Both are bounded, so a log of any size
// costs the same once the ring is full.

/** LogBuffer keeps the last `capacity` lines and counts every line seen. */
export class LogBuffer {
  private readonly ring: string[];
  private start = 0;
  private size = 0;
  /** Lines received since the stream began. */
  total = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<string>(capacity);
  }

  push(lines: readonly string[]): void {
    for (const line of lines) {
      this.total++;
      if (this.size < this.capacity) {
        this.ring[(this.start + this.size) % this.capacity] = line;
        this.size++;
      } else {
        this.ring[this.start] = line;
        this.start = (this.start + 1) % this.capacity;
      }
    }
  }

  get length(): number {
    return this.size;
  }

  /** Lines that fell out of the ring. */
  get dropped(): number {
    return this.total - this.size;
  }

  lines(): string[] {
    const out = new Array<string>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.ring[(this.start + i) % this.capacity] as string;
    return out;
  }

  clear(): void {
    this.start = 0;
    this.size = 0;
    this.total = 0;
  }
}

/** The longest line kept whole; the rest of a longer one is cut off. */
export const maxLineLength = 8192;

/**
 * LogSplitter splits decoded chunks into lines, keeping blank lines and
 * cutting absurdly long ones (a minified bundle printed at once, say).
 */
export class LogSplitter {
  private readonly decoder = new TextDecoder();
  private rest = '';

  push(chunk: Uint8Array | string): string[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop() ?? '';
    if (this.rest.length > maxLineLength * 4) {
      parts.push(this.rest);
      this.rest = '';
    }
    return parts.map(clean);
  }

  end(): string[] {
    const last = this.rest + this.decoder.decode();
    this.rest = '';
    return last === '' ? [] : [clean(last)];
  }
}

function clean(line: string): string {
  const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
  return trimmed.length > maxLineLength ? `${trimmed.slice(0, maxLineLength)} … (${trimmed.length - maxLineLength} more characters)` : trimmed;
}

/** matching keeps the lines containing the query, ignoring case. */
export function matching(lines: readonly string[], query: string): string[] {
  const q = query.trim().toLowerCase();
  if (!q) return lines as string[];
  return lines.filter((line) => line.toLowerCase().includes(q));
}
