import type { TrackEvent } from './tracker';
/** An RFC 9457 problem as the server answers it (`type`, `title`, `status`, `detail`, extensions). */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ field: string; message: string }>;
  request_id?: string;
  [extension: string]: unknown;
};

/**
 * The classes an error is an instance of, by name, on a property every copy of the SDK
 * agrees on: the ESM and CJS builds (or two bundled copies) each define their own
 * classes, and share one default tracker, so an error made by one copy is checked with
 * `instanceof` against the other's classes.
 */
const KINDS = Symbol.for('@staryer/usage-sdk/error-kinds');

function brand(error: Error, kind: string): void {
  const kinds = (error as unknown as Record<symbol, string[] | undefined>)[KINDS];
  if (kinds) kinds.push(kind);
  else Object.defineProperty(error, KINDS, { value: [kind], enumerable: false });
}

/**
 * Why an event was not recorded. `code` is the problem type's last segment for server
 * answers (`unknown-meter`, `validation-failed`, `payload-too-large`, `forbidden`…) or
 * one of the SDK's own: `network` (no answer; retries exhausted), `timeout` (no answer
 * in `timeout`), `token-unavailable` (getToken failed or did not answer),
 * `token-user-mismatch` (getToken's token is for another user than the event's or
 * check's — the page signed in someone else; never retried), `invalid-event`,
 * `payload-too-large` (an event too large to send), `queue-overflow`, `shutdown`,
 * `not-initialized`, `no-credentials`, `redirected` (the server at `baseURL` answered a
 * redirect: set `baseURL` to the address it points to; never retried).
 */
export class UsageError extends Error {
  /**
   * The name `instanceof` looks for, whichever copy of the SDK made the error (not the
   * class name, which minifiers change). A getter, not a static field: a field (lowered
   * for ES2020) would make the bundler rename the class, and its `name` with it.
   */
  protected static get kind(): string {
    return 'UsageError';
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const kinds = (value as Record<symbol, unknown>)[KINDS];
    return Array.isArray(kinds) ? kinds.includes(this.kind) : Function.prototype[Symbol.hasInstance].call(this, value);
  }

  override readonly name: string = 'UsageError';
  readonly code: string;
  /** HTTP status of the answer; 0 when the SDK gave up without one. */
  readonly status: number;
  /** The problem body, when the server answered one. */
  readonly problem?: Problem;
  /**
   * The event's idempotency key, when the error is about one tracked event. After an
   * unclear failure (`timeout`, `network`, a 5xx, `shutdown` while sending) the server may
   * have recorded it: track {@link event} again — it carries this key and the timestamp that
   * was sent — and the server answers from its record, never counting it twice.
   */
  idempotencyKey?: string;
  /**
   * The event as it was sent (key and timestamp included), when the error is about one
   * tracked event: `trackUsage(error.event)` is the same event again. (The key alone is not:
   * the server stamped a timestamp the SDK made, and another one would make it a different
   * event under the same key, refused 422.)
   */
  event?: TrackEvent;

  constructor(message: string, options: { code: string; status?: number; problem?: Problem; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    brand(this, 'UsageError');
    this.code = options.code;
    this.status = options.status ?? 0;
    this.problem = options.problem;
  }
}

/**
 * A hard-capped customer's event would have passed the plan's limit; nothing was
 * recorded. Quantities are decimal strings, as on the wire; `limit` is null for
 * unlimited plans (which never refuse).
 */
export class QuotaExceededError extends UsageError {
  protected static override get kind(): string {
    return 'QuotaExceededError';
  }
  override readonly name = 'QuotaExceededError';
  readonly used: string;
  readonly limit: string | null;
  readonly remaining: string | null;
  /** When the billing period ends and the counter starts again (ISO 8601). */
  readonly period_end: string;

  constructor(problem: Problem) {
    super(problem.detail, { code: 'quota-exceeded', status: 402, problem });
    brand(this, 'QuotaExceededError');
    this.used = String(problem.used ?? '0');
    this.limit = problem.limit === null || problem.limit === undefined ? null : String(problem.limit);
    this.remaining = problem.remaining === null || problem.remaining === undefined ? null : String(problem.remaining);
    this.period_end = String(problem.period_end ?? '');
  }
}

/** The error a problem answer stands for. */
/**
 * A redirect answered instead of the API (fetch is told not to follow: `redirect: 'manual'`),
 * or null. Followed, a 301/302 turns the POST of events into a GET without them, and a
 * redirect to another origin drops the credentials (or sends them where the creator did not
 * point the SDK): an error naming where it points is what the creator can act on. In a
 * browser the answer is opaque (no status, no Location).
 */
export function redirectError(response: Response, baseURL: string): UsageError | null {
  const opaque = response.type === 'opaqueredirect';
  if (!opaque && (response.status < 300 || response.status > 399)) return null;
  const location = opaque ? null : response.headers.get('location');
  const where = location ? `${response.status} to ${location}` : opaque ? 'a redirect' : String(response.status);
  return new UsageError(
    `${baseURL} answered a redirect (${where}) instead of the API: set baseURL to the address the API is served at. Redirects are not followed: a POST would arrive without its events, and the credentials would go elsewhere.`,
    { code: 'redirected', status: response.status },
  );
}

export function errorFromProblem(status: number, body: unknown): UsageError {
  const problem = isProblem(body) ? body : undefined;
  if (status === 402 && problem) return new QuotaExceededError(problem);
  const code = problem?.type.split('/').pop() || `http-${status}`;
  return new UsageError(problem?.detail ?? `The server answered ${status}.`, { code, status, problem });
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && typeof (body as Problem).type === 'string' && typeof (body as Problem).detail === 'string';
}
