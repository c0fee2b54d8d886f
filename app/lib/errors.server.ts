import { toAppError, type FieldError } from '../../server/errors.js';

export type FormError = {
  status: number;
  /** A sentence for the top of the form. */
  message: string;
  /** Per-field messages, keyed by field name. */
  fields: Record<string, string>;
  retryAfter?: number;
};

/** The members of server/errors.ts's AppError that a form needs. */
type AppErrorLike = { category: string; status: number; detail: string; errors?: FieldError[]; retryAfter?: number };

/**
 * Read structurally, not with `instanceof`: the Remix compiler bundles its own copy of
 * server/ modules into build/index.js, while the caller runs the server's modules, so
 * an AppError thrown by a procedure is not an instance of the AppError class this file
 * would import (every error then looked internal and the page answered 500).
 */
function asAppError(value: unknown): AppErrorLike | null {
  if (typeof value !== 'object' || value === null) return null;
  const candidate = value as Partial<AppErrorLike>;
  return typeof candidate.category === 'string' && typeof candidate.status === 'number' && typeof candidate.detail === 'string'
    ? (candidate as AppErrorLike)
    : null;
}

/** What a failed tRPC call means for a form: status, message, field errors. Unknown errors rethrow. */
export function toFormError(error: unknown): FormError {
  // Procedures throw a TRPCError whose cause is the AppError (server/trpc.ts maps every
  // failure, zod input errors included); anything else goes through the shared mapping.
  const cause = typeof error === 'object' && error !== null ? (error as { cause?: unknown }).cause : undefined;
  const appError = asAppError(cause) ?? asAppError(error) ?? toAppError(error);
  if (appError.category === 'internal') throw error;
  const fields: Record<string, string> = {};
  for (const e of appError.errors ?? []) fields[e.field] ??= e.message;
  return { status: appError.status, message: appError.detail, fields, retryAfter: appError.retryAfter };
}

/** Response headers for a form error (Retry-After on 429). */
export function formErrorHeaders(error: FormError): HeadersInit {
  return error.retryAfter !== undefined ? { 'Retry-After': String(error.retryAfter) } : {};
}
