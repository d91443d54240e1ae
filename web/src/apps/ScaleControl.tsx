import { useEffect, useId, useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { scaleDeployment } from '../api/resources';
import type { Deployment } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { desiredReplicas } from '../project/apps';

/** The most replicas the form offers; the server has its own limits (quotas). */
export const maxReplicas = 100;

export function validateReplicas(text: string): string | null {
  if (!/^\d+$/.test(text.trim())) return 'Enter a whole number of pods.';
  const n = Number(text);
  if (n > maxReplicas) return `Use at most ${maxReplicas} pods here.`;
  return null;
}

/** ScaleControl sets the number of pods (PATCH …/deployments/{name}/scale). */
export function ScaleControl({ project, deployment }: { project: string; deployment: Deployment }) {
  const client = useApi();
  const desired = desiredReplicas(deployment);
  const ready = deployment.status?.readyReplicas ?? 0;
  const [text, setText] = useState(String(desired));
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const id = useId();

  useEffect(() => {
    if (!editing) setText(String(desired));
  }, [desired, editing]);

  const send = async (replicas: number) => {
    setSending(true);
    setError(null);
    try {
      await scaleDeployment(client, project, deployment.metadata.name, replicas);
      setEditing(false);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setSending(false);
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problem = validateReplicas(text);
    setError(problem);
    if (!problem) void send(Number(text));
  };

  return (
    <form className="scale" aria-label="Scale" onSubmit={submit} noValidate>
      <span className="summary__label" id={`${id}-label`}>
        Pods
      </span>
      <span className="scale__now" aria-live="polite">
        {ready} of {desired} ready
      </span>
      <button type="button" className="button button--secondary button--icon" aria-label="One pod fewer" aria-disabled={sending || undefined} disabled={desired === 0} onClick={() => !sending && void send(desired - 1)}>
        −
      </button>
      <label className="visually-hidden" htmlFor={`${id}-input`}>
        Desired pods
      </label>
      <input
        id={`${id}-input`}
        className="scale__input"
        inputMode="numeric"
        value={text}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => {
          setEditing(true);
          setText(e.target.value);
        }}
      />
      <button type="button" className="button button--secondary button--icon" aria-label="One pod more" aria-disabled={sending || undefined} disabled={desired >= maxReplicas} onClick={() => !sending && void send(desired + 1)}>
        +
      </button>
      <button type="submit" className="button button--primary" disabled={sending}>
        {sending ? 'Scaling…' : 'Scale'}
      </button>
      {error && (
        <span id={`${id}-error`} className="inline-error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
