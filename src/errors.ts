/**
 * One central list of error codes, each with its HTTP status. Routes throw
 * AppError; http/server.ts turns any error into `{"detail": ...}`.
 */

/** Every error code the relay answers with, and its HTTP status. Codes are never reused. */
export const ERROR_CODES = {
  BAD_FILTER: 400,
  BAD_REQUEST: 400,
  BAD_LAST_EVENT_ID: 400,
  NOT_AUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TOO_MANY_STREAMS: 429,
  RATE_LIMITED: 429,
  SERVER_FULL: 503,
  UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable code, an HTTP status and a client-safe message. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra JSON fields for the response body (e.g. `param`). */
    readonly extra: Record<string, unknown> = {},
    /** Seconds for a `Retry-After` header, if any. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_CODES[code];
  }
}
