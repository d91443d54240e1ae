import { useId, type ReactNode } from 'react';

export interface FieldProps {
  label: string;
  /** Shown under the input while there is no error. */
  help?: ReactNode;
  error?: string | null;
  /** Marks the control required for assistive technology; forms say which
   *  fields are optional in their help text instead of starring the rest. */
  required?: boolean;
  /** Renders the control with the ids that tie it to its label and texts. */
  children: (control: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: true; required?: boolean }) => ReactNode;
}

/** Field is a labelled form control with its help text or error. */
export function Field({ label, help, error, required, children }: FieldProps) {
  const id = useId();
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const describedBy = error ? errorId : help ? helpId : undefined;
  return (
    <div className={`field${error ? ' field--invalid' : ''}`}>
      <label className="field__label" htmlFor={id}>
        {label}
      </label>
      {children({
        id,
        'aria-describedby': describedBy,
        ...(error ? { 'aria-invalid': true as const } : {}),
        ...(required ? { required: true } : {}),
      })}
      {error ? (
        <p id={errorId} className="field__error">
          {error}
        </p>
      ) : (
        help && (
          <p id={helpId} className="field__help">
            {help}
          </p>
        )
      )}
    </div>
  );
}
