import { initTRPC, TRPCError } from '@trpc/server';
import type { ApiKeyScope } from '../db/schema.js';
import type { Context } from './context.js';
import { AppError, forbidden, toAppError, validationError, type ErrorCategory } from './errors.js';
import { CONTENT_CODING_REFUSED, tooLarge } from './http/body.js';
import { toProblem, type Problem } from './http/problem.js';
import { zodFieldErrors } from './http/validation.js';
import { requireScope } from './services/api-keys.js';

const TRPC_CODES = {
  bad_request: 'BAD_REQUEST',
  unauthorized: 'UNAUTHORIZED',
  payment_required: 'PAYMENT_REQUIRED',
  forbidden: 'FORBIDDEN',
  not_found: 'NOT_FOUND',
  method_not_allowed: 'METHOD_NOT_SUPPORTED',
  conflict: 'CONFLICT',
  payload_too_large: 'PAYLOAD_TOO_LARGE',
  unsupported_media_type: 'UNSUPPORTED_MEDIA_TYPE',
  validation: 'UNPROCESSABLE_CONTENT',
  rate_limited: 'TOO_MANY_REQUESTS',
  internal: 'INTERNAL_SERVER_ERROR',
  upstream: 'BAD_GATEWAY',
  unavailable: 'SERVICE_UNAVAILABLE',
} as const satisfies Record<ErrorCategory, TRPCError['code']>;

/** The AppError a tRPC error stands for: our own, a zod input error, or an unknown one. */
export function appErrorOf(error: TRPCError): AppError {
  if (error.cause instanceof AppError) return error.cause;
  const issues = (error.cause as { issues?: unknown } | undefined)?.issues;
  if (error.code === 'BAD_REQUEST' && Array.isArray(issues)) return validationError(zodFieldErrors(issues));
  // The body as tRPC read it: not JSON (its JSON.parse's SyntaxError, however wrapped), or
  // past maxBodySize. The client's fault, as on the REST routes: 400 and 413, not 500.
  if (error.code === 'PARSE_ERROR' || causes(error).some((c) => c instanceof SyntaxError)) {
    return new AppError('bad_request', { code: 'malformed_json', detail: 'The request body is not valid JSON.' });
  }
  if (causes(error).some((c) => c instanceof TRPCError && (c.code === 'PAYLOAD_TOO_LARGE' || c.message === 'PAYLOAD_TOO_LARGE'))) {
    return tooLarge();
  }
  if (error.code === 'NOT_FOUND' || error.code === 'METHOD_NOT_SUPPORTED') {
    return new AppError(error.code === 'NOT_FOUND' ? 'not_found' : 'method_not_allowed', { code: 'no_such_procedure', detail: error.message });
  }
  // tRPC's own refusals of the request's shape (a body that is not JSON by its content type,
  // a batch input that is not an object, an unreadable form): the client's, never a 500.
  if (error.code === 'UNSUPPORTED_MEDIA_TYPE') {
    return new AppError('unsupported_media_type', { code: 'unsupported_media_type', detail: 'Send the body as application/json (Content-Type: application/json).' });
  }
  if (error.code === 'BAD_REQUEST') return new AppError('bad_request', { code: 'bad_request', detail: error.message });
  return toAppError(error.cause ?? error);
}

/** The error and the errors it was caused by, outermost first. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

const t = initTRPC.context<Context>().create({
  // The same RFC 9457 problem REST answers travels in data.problem.
  errorFormatter({ shape, error, ctx }) {
    const appError = appErrorOf(error);
    const problem: Problem = toProblem(appError, ctx?.requestId);
    return { ...shape, message: appError.detail, data: { code: shape.data.code, httpStatus: appError.status, problem } };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** An AppError as tRPC answers it: its category's code, the problem in data.problem. */
export const toTrpcError = (appError: AppError) => new TRPCError({ code: TRPC_CODES[appError.category], message: appError.detail, cause: appError });

/**
 * Headers of a tRPC answer, on both ways in (the API's handler and the dashboard's, through
 * Remix): problems that ask the client to wait say so in Retry-After too, as REST does; a body
 * refused for its content coding names the one taken (Accept-Encoding: identity); and an error
 * answer is JSON whatever the request was. tRPC sets application/json itself once it has read
 * the request; a request it could not read (refused content type, method or batch shape: no
 * `info`) or an unbatched streaming one it answers as text/plain, so only those get it here —
 * the fetch adapter (the dashboard's way in) appends these headers to tRPC's own, and setting
 * it on every error answered "application/json, application/json".
 */
export function trpcResponseMeta({ errors, info }: { errors: TRPCError[]; info?: { isBatchCall: boolean; accept: string | null } | undefined }) {
  if (errors.length === 0) return {};
  const problems = errors.map(appErrorOf);
  const retryAfter = problems.map((p) => p.retryAfter).find((s) => s !== undefined);
  const unread = !info || (info.accept === 'application/jsonl' && !info.isBatchCall);
  return {
    headers: {
      ...(unread ? { 'content-type': 'application/json' } : {}),
      ...(retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }),
      ...(problems.some((p) => p.code === CONTENT_CODING_REFUSED) ? { 'accept-encoding': 'identity' } : {}),
    },
  };
}

/** Our errors keep their category; anything else is logged once here with the request id. */
const errorMapping = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    const appError = appErrorOf(result.error);
    if (appError.category === 'internal') ctx.rt.log.error({ err: result.error.cause ?? result.error, requestId: ctx.requestId, path }, 'procedure failed');
    // A service's AppError reaches here wrapped as INTERNAL_SERVER_ERROR: give it its category's code.
    if (!(result.error.cause instanceof AppError) || result.error.code !== TRPC_CODES[appError.category]) {
      result.error = toTrpcError(appError);
    }
  }
  return result;
});

export const publicProcedure = t.procedure.use(errorMapping);

const unauthorizedError = (ctx: Context) =>
  new TRPCError({
    code: 'UNAUTHORIZED',
    cause: ctx.authError ?? new AppError('unauthorized', { code: 'unauthorized', detail: 'Log in or send an API key.' }),
  });

/**
 * The dashboard: a logged-in creator's session. A valid API key or browser token is told 403
 * (it is who it says, and may not do this — DESIGN.md's "a key without the scope → 403"),
 * not 401, which would send a client to fix credentials that are fine.
 */
export const creatorProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.auth.kind === 'anonymous') throw unauthorizedError(ctx);
  if (ctx.auth.kind !== 'session') {
    throw new TRPCError({ code: 'FORBIDDEN', cause: forbidden('Only the dashboard can do this: log in as the creator. An API key or a browser token cannot, whatever its scopes.') });
  }
  return next({ ctx: { ...ctx, auth: ctx.auth, creatorId: ctx.auth.creatorId } });
});

/** A creator's session (full access) or an API key holding `scope` (`any`: any valid key). */
export const tenantProcedure = (scope: ApiKeyScope | 'any') =>
  publicProcedure.use(({ ctx, next }) => {
    if (ctx.auth.kind === 'anonymous') throw unauthorizedError(ctx);
    if (ctx.auth.kind === 'user_token') throw new TRPCError({ code: 'FORBIDDEN', cause: forbidden('A browser token can only track and check usage.') });
    if (ctx.auth.kind === 'api_key' && scope !== 'any') requireScope(ctx.auth, scope);
    return next({ ctx: { ...ctx, auth: ctx.auth, creatorId: ctx.auth.creatorId } });
  });

/**
 * Tracking and checking: a session, an API key with `track`, or a browser token — the
 * procedure then acts only for the token's user (requireTokenUser).
 */
export const trackProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.auth.kind === 'anonymous') throw unauthorizedError(ctx);
  if (ctx.auth.kind === 'api_key') requireScope(ctx.auth, 'track');
  return next({ ctx: { ...ctx, auth: ctx.auth, creatorId: ctx.auth.creatorId } });
});
