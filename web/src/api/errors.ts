import type { Status } from './types';

/** ApiError is a failed request, carrying the server's Status. */
export class ApiError extends Error {
  readonly status: Status;

  constructor(status: Status) {
    super(status.message);
    this.name = 'ApiError';
    this.status = status;
  }

  get code(): number {
    return this.status.code;
  }

  get reason(): string {
    return this.status.reason;
  }
}

export function isStatus(value: unknown): value is Status {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.kind === 'Status' && typeof v.code === 'number' && typeof v.message === 'string';
}

/** statusOf makes a Status of any failure: a network error has code 0. */
export function statusOf(error: unknown): Status {
  if (error instanceof ApiError) return error.status;
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'Status', code: 0, reason: 'Unavailable', message: `Cannot reach the server: ${message}` };
}

/**
 * describeError turns a failure into a sentence for a person: the server's
 * message without the trailing error class it appends (": NotFound"),
 * starting with a capital letter.
 */
export function describeError(error: unknown): string {
  const status = statusOf(error);
  let message = status.message.trim();
  const suffix = `: ${status.reason}`;
  if (status.reason && message.endsWith(suffix) && message.length > suffix.length) {
    message = message.slice(0, -suffix.length);
  }
  if (message === '') message = `The request failed (${status.code || 'no answer'}).`;
  return message.charAt(0).toUpperCase() + message.slice(1);
}
