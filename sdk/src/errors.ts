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
 * Why an event was not recorded. `code` is the problem type's last segment for server
 * answers (`unknown-meter`, `validation-failed`, `forbidden`…) or one of the SDK's own:
 * `network` (retries exhausted), `queue-overflow`, `shutdown`, `not-initialized`,
 * `no-credentials`.
 */
export class UsageError extends Error {
  override readonly name: string = 'UsageError';
  readonly code: string;
  /** HTTP status of the answer; 0 when the SDK gave up without one. */
  readonly status: number;
  /** The problem body, when the server answered one. */
  readonly problem?: Problem;

  constructor(message: string, options: { code: string; status?: number; problem?: Problem; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
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
  override readonly name = 'QuotaExceededError';
  readonly used: string;
  readonly limit: string | null;
  readonly remaining: string | null;
  /** When the billing period ends and the counter starts again (ISO 8601). */
  readonly period_end: string;

  constructor(problem: Problem) {
    super(problem.detail, { code: 'quota-exceeded', status: 402, problem });
    this.used = String(problem.used ?? '0');
    this.limit = problem.limit === null || problem.limit === undefined ? null : String(problem.limit);
    this.remaining = problem.remaining === null || problem.remaining === undefined ? null : String(problem.remaining);
    this.period_end = String(problem.period_end ?? '');
  }
}

/** The error a problem answer stands for. */
export function errorFromProblem(status: number, body: unknown): UsageError {
  const problem = isProblem(body) ? body : undefined;
  if (status === 402 && problem) return new QuotaExceededError(problem);
  const code = problem?.type.split('/').pop() || `http-${status}`;
  return new UsageError(problem?.detail ?? `The server answered ${status}.`, { code, status, problem });
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && typeof (body as Problem).type === 'string' && typeof (body as Problem).detail === 'string';
}
