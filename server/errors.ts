/**
 * Error categories and the one table that maps them to HTTP statuses. Services and
 * queries throw AppError; only transports (server/http/problem.ts, the tRPC error
 * formatter, the job wrapper) translate them.
 */
export const ERROR_CATEGORIES = {
  bad_request: { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  payment_required: { status: 402, title: 'Quota exceeded' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  validation: { status: 422, title: 'Validation failed' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal server error' },
  upstream: { status: 502, title: 'Upstream error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCategory = keyof typeof ERROR_CATEGORIES;

export const PROBLEM_BASE = 'https://staryer.dev/problems/';

export type FieldError = { field: string; message: string };

export type AppErrorInit = {
  /** snake_case, stable; the problem `type` is PROBLEM_BASE + code with dashes. */
  code: string;
  detail: string;
  title?: string;
  errors?: FieldError[];
  /** Extra members of the problem body (e.g. used/limit for quota errors). */
  meta?: Record<string, unknown>;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
  cause?: unknown;
};

export class AppError extends Error {
  readonly category: ErrorCategory;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors?: FieldError[];
  readonly meta?: Record<string, unknown>;
  readonly retryAfter?: number;

  constructor(category: ErrorCategory, init: AppErrorInit) {
    // A client error (4xx) is an answer, not a fault: it carries no stack trace. Capturing
    // one cost ~6 µs, paid per refused event of a batch and per 401/404 (BENCHMARKS.md,
    // round 6); the 500s and 50xs, whose origin matters, keep theirs.
    const stackTraceLimit = Error.stackTraceLimit;
    if (ERROR_CATEGORIES[category].status < 500) Error.stackTraceLimit = 0;
    super(init.detail, { cause: init.cause });
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'AppError';
    this.category = category;
    this.code = init.code;
    this.title = init.title ?? ERROR_CATEGORIES[category].title;
    this.detail = init.detail;
    this.errors = init.errors;
    this.meta = init.meta;
    this.retryAfter = init.retryAfter;
  }

  get status(): number {
    return ERROR_CATEGORIES[this.category].status;
  }
}

export const validationError = (errors: FieldError[], detail?: string) =>
  new AppError('validation', {
    code: 'validation_failed',
    detail: detail ?? errors.map((e) => `${e.field}: ${e.message}`).join('; '),
    errors,
  });

export const notFound = (what: string) =>
  new AppError('not_found', { code: 'not_found', detail: `${what} was not found.` });

export const unauthorized = (detail: string) => new AppError('unauthorized', { code: 'unauthorized', detail });

export const forbidden = (detail: string) => new AppError('forbidden', { code: 'forbidden', detail });

export const conflict = (code: string, detail: string, field?: string) =>
  new AppError('conflict', { code, detail, errors: field ? [{ field, message: detail }] : undefined });

export const rateLimited = (retryAfter: number) =>
  new AppError('rate_limited', {
    code: 'rate_limited',
    detail: `Too many attempts. Try again in ${retryAfter} seconds.`,
    retryAfter,
  });

export const unavailable = (detail = 'The database is unavailable. Try again shortly.') =>
  new AppError('unavailable', { code: 'unavailable', detail, retryAfter: 5 });

/**
 * `work`, or a 503 `unavailable(detail)` once `ms` have passed without its answer (a database
 * that stopped answering: a read on a silent pooled connection has no deadline of its own).
 * For reads only: the work goes on, and its late answer is dropped.
 */
export const withDeadline = <T>(work: Promise<T>, ms: number, detail: string): Promise<T> => withTimeout(work, ms, () => unavailable(detail));

/** `work`, or a rejection with `timedOut()` once `ms` have passed without its answer (the work goes on; its late answer is dropped). */
export function withTimeout<T>(work: Promise<T>, ms: number, timedOut: () => unknown): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), Math.max(0, ms));
    timer.unref();
  });
  work.catch(() => undefined);
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Postgres connection-level failures: the caller should retry, nothing was committed. */
export function isDatabaseUnavailable(error: unknown): boolean {
  // Drivers and the ORM wrap the connection error; look down the cause chain.
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (isConnectionErrorCode((current as { code?: unknown }).code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function isConnectionErrorCode(code: unknown): boolean {
  if (typeof code !== 'string') return false;
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT'].includes(code) ||
    code.startsWith('08') || // connection exception
    code === '57P01' || code === '57P02' || code === '57P03' || // admin shutdown, crash shutdown, cannot connect now
    code === '53300' // too many connections: refused at connect, nothing done
  );
}

/** Turns anything thrown into an AppError; unknown errors become a generic internal error. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isDatabaseUnavailable(error)) return unavailable();
  return new AppError('internal', {
    code: 'internal',
    detail: 'Something went wrong on our side. The request id identifies it in our logs.',
    cause: error,
  });
}

export function problemType(code: string): string {
  return PROBLEM_BASE + code.replaceAll('_', '-');
}
