import { TRPCError } from '@trpc/server';
import { AppError, toAppError, type FieldError } from '../../server/errors.js';
import { appErrorOf } from '../../server/trpc.js';

export type FormError = {
  status: number;
  /** A sentence for the top of the form. */
  message: string;
  /** Per-field messages, keyed by field name. */
  fields: Record<string, string>;
  retryAfter?: number;
};

/** What a failed tRPC call means for a form: status, message, field errors. Unknown errors rethrow. */
export function toFormError(error: unknown): FormError {
  const appError: AppError = error instanceof TRPCError ? appErrorOf(error) : toAppError(error);
  if (appError.category === 'internal') throw error;
  const fields: Record<string, string> = {};
  for (const e of appError.errors ?? ([] as FieldError[])) fields[e.field] ??= e.message;
  return { status: appError.status, message: appError.detail, fields, retryAfter: appError.retryAfter };
}

/** Response headers for a form error (Retry-After on 429). */
export function formErrorHeaders(error: FormError): HeadersInit {
  return error.retryAfter !== undefined ? { 'Retry-After': String(error.retryAfter) } : {};
}
