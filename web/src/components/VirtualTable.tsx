import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';

export interface Column {
  /** The header text, announced for each cell. */
  label: string;
  /** Hidden visually (an actions column, say). */
  hidden?: boolean;
  /** CSS grid track, e.g. "2fr" or "120px". */
  width: string;
}

export interface VirtualTableProps<T> {
  label: string;
  columns: readonly Column[];
  items: readonly T[];
  rowKey: (item: T) => string;
  /** Renders a row's cells (role="cell" elements); memoise the row component. */
  renderRow: (item: T) => ReactNode;
  rowHeight: number;
  /** Visible height in pixels before the table scrolls. */
  maxHeight: number;
  overscan?: number;
}

/**
 * VirtualTable is an ARIA table that mounts only the rows in view (plus a
 * few either side) in a scrolling box of fixed-height rows: a thousand
 * rows cost what thirty do. aria-rowcount and aria-rowindex tell assistive
 * technology where the mounted rows sit.
 */
export function VirtualTable<T>({ label, columns, items, rowKey, renderRow, rowHeight, maxHeight, overscan = 6 }: VirtualTableProps<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(maxHeight);
  const frame = useRef(0);

  const onScroll = useCallback(() => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      if (scroller.current) setScrollTop(scroller.current.scrollTop);
    });
  }, []);

  useEffect(() => {
    const element = scroller.current;
    if (!element) return undefined;
    const measure = () => setViewport(element.clientHeight || maxHeight);
    measure();
    if (typeof ResizeObserver === 'undefined') return undefined;
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => {
      observer.disconnect();
      cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [maxHeight]);

  const total = items.length;
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(total, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  const template = columns.map((c) => c.width).join(' ');
  const body = Math.min(maxHeight, Math.max(total, 1) * rowHeight);

  const rows: ReactNode[] = [];
  for (let index = first; index < last; index++) {
    const item = items[index] as T;
    rows.push(
      <div
        key={rowKey(item)}
        role="row"
        aria-rowindex={index + 2}
        className="vtable__row"
        data-row={rowKey(item)}
        style={{ transform: `translateY(${index * rowHeight}px)`, height: rowHeight, gridTemplateColumns: template }}
      >
        {renderRow(item)}
      </div>,
    );
  }

  return (
    <div role="table" aria-label={label} aria-rowcount={total + 1} className="vtable">
      <div role="rowgroup" className="vtable__head">
        <div role="row" aria-rowindex={1} className="vtable__row vtable__row--head" style={{ gridTemplateColumns: template }}>
          {columns.map((c) => (
            <div key={c.label} role="columnheader" className={c.hidden ? 'vtable__hidden-header' : undefined}>
              {c.hidden ? <span className="visually-hidden">{c.label}</span> : c.label}
            </div>
          ))}
        </div>
      </div>
      <div
        ref={scroller}
        role="rowgroup"
        className="vtable__body"
        tabIndex={0}
        aria-label={`${label}, ${total} rows: scroll to see more`}
        onScroll={onScroll}
        style={{ height: body }}
      >
        <div className="vtable__spacer" style={{ height: total * rowHeight }}>
          {rows}
        </div>
      </div>
    </div>
  );
}
