import type { ReactNode } from 'react';

export interface AlertProps {
  /** A failure is announced at once; info politely. */
  variant?: 'danger' | 'info' | 'success';
  title?: string;
  children: ReactNode;
  action?: ReactNode;
  id?: string;
}

/** Alert shows a message next to what it is about. */
export function Alert({ variant = 'danger', title, children, action, id }: AlertProps) {
  return (
    <div id={id} className={`alert alert--${variant}`} role={variant === 'danger' ? 'alert' : 'status'}>
      <span className="alert__icon" aria-hidden="true">
        {variant === 'danger' ? '!' : variant === 'success' ? '✓' : 'i'}
      </span>
      <div className="alert__text">
        {title && <strong className="alert__title">{title}</strong>}
        <span>{children}</span>
      </div>
      {action && <div className="alert__action">{action}</div>}
    </div>
  );
}
