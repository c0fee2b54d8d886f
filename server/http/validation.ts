import type { z } from 'zod';
import { validationError, type FieldError } from '../errors.js';

type Issue = { path?: ReadonlyArray<PropertyKey>; message?: string; code?: string };

/** Zod issues as `{field, message}`, fields in dotted/indexed form (`plan_limits[0].limit_value`). */
export function zodFieldErrors(issues: readonly unknown[]): FieldError[] {
  return (issues as Issue[]).map((issue) => {
    const path = (issue.path ?? []).reduce<string>((acc, part) => {
      if (typeof part === 'number') return `${acc}[${part}]`;
      return acc ? `${acc}.${String(part)}` : String(part);
    }, '');
    let message = issue.message ?? 'is invalid';
    if (issue.code === 'unrecognized_keys') message = message.replace(/^Unrecognized key/, 'unknown field');
    return { field: path || '(body)', message };
  });
}

/** Parses input with a schema or throws a 422 naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(zodFieldErrors(result.error.issues));
  return result.data;
}
