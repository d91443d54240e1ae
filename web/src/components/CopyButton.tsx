import { useEffect, useState } from 'react';
import { Alert } from './Alert';

type CopyState = 'idle' | 'copied' | 'failed';

/** CopyButton copies a text to the clipboard and says so. */
export function CopyButton({ text, label, failure = 'The browser refused to copy: select the text and copy it by hand.', variant = 'primary' }: { text: string; label: string; failure?: string; variant?: 'primary' | 'secondary' }) {
  const [state, setState] = useState<CopyState>('idle');

  useEffect(() => {
    if (state !== 'copied') return;
    const timer = setTimeout(() => setState('idle'), 2500);
    return () => clearTimeout(timer);
  }, [state]);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  };

  return (
    <>
      <button type="button" className={`button button--${variant}`} onClick={() => void copy()}>
        {state === 'copied' ? 'Copied' : label}
      </button>
      <span className="visually-hidden" role="status">
        {state === 'copied' ? `${label}: copied to the clipboard` : ''}
      </span>
      {state === 'failed' && (
        <div className="copyable__failure">
          <Alert>{failure}</Alert>
        </div>
      )}
    </>
  );
}
