import { useEffect, useRef } from 'react';

/**
 * PageTitle is a page's heading. It names the browser tab and takes the
 * focus when the page opens, so a screen reader announces where the person
 * landed after a client-side navigation.
 */
export function PageTitle({ children, title }: { children: string; title?: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title ?? children} · Slipway`;
    if (document.activeElement === document.body || document.activeElement === null) {
      ref.current?.focus({ preventScroll: true });
    }
  }, [children, title]);
  return (
    <h1 ref={ref} tabIndex={-1} className="page__title">
      {children}
    </h1>
  );
}
