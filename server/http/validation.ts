import { z } from 'zod';
import { AppError, validationError, type FieldError } from '../errors.js';

type Issue = { path?: ReadonlyArray<PropertyKey>; message?: string; code?: string; keys?: readonly string[]; issues?: readonly Issue[] };

const fieldOf = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, part) => {
    if (typeof part === 'number') return `${acc}[${part}]`;
    if (part === '') return `${acc}[""]`;
    return acc ? `${acc}.${String(part)}` : String(part);
  }, '');

/** How a JSON type is named in a message ("must be a string, not a number"). */
const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  null: 'null',
  nan: 'NaN',
};

/**
 * Zod's type message in words: a missing field "is required"; a wrong type "must be a string,
 * not a number" (zod says "Invalid input: expected string, received undefined"). Any other
 * message is kept as written.
 */
function typeMessage(message: string): string {
  const match = /^Invalid input: expected (\w+), received (\w+)$/.exec(message);
  if (!match) return message;
  const [, expected, received] = match as unknown as [string, string, string];
  if (received === 'undefined') return 'is required';
  return `must be ${TYPE_WORDS[expected] ?? expected}, not ${TYPE_WORDS[received] ?? received}`;
}

/** Zod issues as `{field, message}`, fields in dotted/indexed form (`plan_limits[0].limit_value`). */
export function zodFieldErrors(issues: readonly unknown[]): FieldError[] {
  // A value of the wrong type is named for that alone: zod 4 still runs a schema's size checks
  // on it (a string given for an array of at most 16 is also "too many event types").
  const mistyped = new Set((issues as Issue[]).filter((i) => i.code === 'invalid_type').map((i) => fieldOf(i.path ?? [])));
  const kept = mistyped.size === 0 ? (issues as Issue[]) : (issues as Issue[]).filter((i) => i.code === 'invalid_type' || !mistyped.has(fieldOf(i.path ?? [])));
  return kept.flatMap((issue) => {
    const path = issue.path ?? [];
    // Strict objects report unknown keys on the object itself; name each key, so a
    // client sees which field to drop rather than "(body)".
    if (issue.code === 'unrecognized_keys' && issue.keys && issue.keys.length > 0) {
      return issue.keys.map((key) => ({ field: fieldOf([...path, key]), message: 'is not a known field' }));
    }
    // A record's key refused by its schema: zod says only "Invalid key in record"; its own issue says why.
    if (issue.code === 'invalid_key' && issue.issues?.[0]?.message) return [{ field: fieldOf(path) || '(body)', message: `as a key, ${issue.issues[0].message}` }];
    const message = issue.message ?? 'is invalid';
    return [{ field: fieldOf(path) || '(body)', message: issue.code === 'invalid_type' ? typeMessage(message) : message }];
  });
}

/** Parses input with a schema or throws a 422 naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(zodFieldErrors(result.error.issues));
  return result.data;
}

/** `{id}` path parameters of the REST routes. */
export const ZIdParam = z.object({ id: z.uuid('must be a UUID') });

/**
 * Query parameters as an object for a schema: all of them (a strict schema then refuses
 * unknown ones), or only `keys` (others ignored). A parameter given twice is refused (422
 * naming it): which of its values to take would be a guess (`status=bogus&status=open`
 * would filter by one and never check the other).
 */
export function queryObject(query: URLSearchParams, keys?: string[]): Record<string, string> {
  const values = new Map<string, string>();
  const repeated = new Set<string>();
  for (const [key, value] of query) {
    if (keys && !keys.includes(key)) continue;
    if (values.has(key)) repeated.add(key);
    else values.set(key, value);
  }
  if (repeated.size > 0) throw validationError([...repeated].map((field) => ({ field, message: 'is given more than once; give it once' })));
  return Object.fromEntries(values);
}

/** A '%' not followed by two hex digits: URLSearchParams keeps it as it is. */
const LONE_PERCENT = /%(?![0-9A-Fa-f]{2})/g;

/**
 * 400 when the query's percent-encoded bytes are not UTF-8: URLSearchParams reads them as
 * U+FFFD, another value than the one sent (`user_id=%FF` and `user_id=%FE` would be one
 * customer) — the body refuses such bytes the same way. `target` is the raw request target;
 * only a query holding a '%' is decoded to check.
 */
export function requireUtf8Query(target: string): void {
  const query = target.indexOf('?');
  if (query === -1 || target.indexOf('%', query) === -1) return;
  try {
    decodeURIComponent(target.slice(query + 1).replace(LONE_PERCENT, '%25'));
  } catch {
    throw new AppError('bad_request', {
      code: 'malformed_query',
      detail: 'The query string is not valid UTF-8 once percent-decoded: percent-encode the UTF-8 bytes of each character.',
    });
  }
}
