import { z } from 'zod';

// A field left out is "is required", whatever its schema: zod names a missing enum field by its
// options ('Invalid option: expected one of "count"|"sum"|…'), as if a wrong value had been
// sent. Schemas' own messages still come first.
z.config({ customError: (issue) => (issue.input === undefined && (issue.code === 'invalid_value' || issue.code === 'invalid_union') ? 'is required' : undefined) });

/** Strings from the outside: no NUL bytes (Postgres text refuses them) and no lone surrogates. */
export const ZText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .refine((s) => s.isWellFormed(), 'must be valid Unicode');

/**
 * A customer's id as the creator's app knows it: 1–256 characters, anything but "." and
 * "..", which no URL path can carry as a segment (…/customers/{user_id}: clients and
 * browsers resolve them away, %2E%2E included), so such a customer could never be looked
 * up, changed or opened on the dashboard.
 */
export const ZUserId = ZText(256)
  .min(1, 'must not be empty')
  .refine((s) => s !== '.' && s !== '..', 'must not be "." or "..": they cannot be a segment of a URL path (…/customers/{user_id})');

export const ZId = z.uuid('must be a UUID');

/**
 * RFC 3339 §5.6 lets the "T" and "Z" of a date-time be lower case; zod's datetime format
 * takes only upper. Typed `string` so the schema's input type (tRPC, the SDK) stays a
 * string; anything else passes through to the format's own error.
 */
const upperCase = (value: string) => (typeof value === 'string' ? value.toUpperCase() : value);

/** zod's own date-time pattern, its one "T" and one "Z" made either case: what the OpenAPI document shows. */
const RFC3339_PATTERN = (() => {
  const source = z.iso.datetime({ offset: true })._zod.def.pattern?.source ?? '';
  if (source.split('T').length !== 2 || source.split('Z').length !== 2) throw new Error('zod’s date-time pattern changed: review ZInstantInput');
  return source.replace('T', '[Tt]').replace('Z', '[Zz]');
})();

/**
 * An instant from the outside (RFC 3339, Z or an offset, "t" and "z" in either case), in
 * the years 1970–9999. Postgres refuses year 0 (a 500 on write), and postgres.js reads a
 * year below 100 back through `new Date(text)`, which V8 takes for another date
 * (0012-03-20 → 2020-12-03): a billing anchor would silently move to another day of the
 * month. Parsed values come out upper-cased (…T…Z), so both spellings are the same instant.
 */
export const ZInstantInput = (error: string) =>
  z
    .preprocess(upperCase, z.iso.datetime({ offset: true, error }))
    .refine((v) => {
      const ms = Date.parse(v);
      if (Number.isNaN(ms)) return true; // the format's own error says it
      const year = new Date(ms).getUTCFullYear();
      return year >= 1970 && year <= 9999;
    }, 'must be between 1970-01-01 and 9999-12-31')
    .meta({ pattern: RFC3339_PATTERN });

/**
 * A page size: a JSON integer, or a query string's digits (`?limit=20`), from 1 to `max`.
 * Not `z.coerce.number()`, which read `[5]` as 5, `true` as 1 and `"0x10"` as 16.
 */
export const ZLimit = (max: number, fallback: number) =>
  z
    .union([z.number(), z.string().regex(/^\d{1,9}$/, 'must be a whole number')], { error: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().int('must be a whole number').min(1, 'must be ≥ 1').max(max, `must be at most ${max}`))
    .default(fallback);

const MAIL_LABEL = /^(?!-)[\p{L}\p{N}-]{1,63}(?<!-)$/u;
const MAIL_LOCAL = /^(?!\.)(?!.*\.\.)[^\s@"(),:;<>[\]\\]+(?<!\.)$/u;

/**
 * Whether `address` is a mailbox a mail server can take (RFC 5321 with internationalized
 * domains and local parts, RFC 6531): a local part of 1–64 octets without spaces or specials,
 * and a domain of two or more labels of 1–63 letters, digits or hyphens (not at either end),
 * the last one not all digits. zod's default refused `.рф` and `münchen.de` and took a
 * 65-octet local part and `example-.com`.
 */
export function isMailbox(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const local = address.slice(0, at);
  const labels = address.slice(at + 1).split('.');
  return (
    Buffer.byteLength(local) <= 64 &&
    MAIL_LOCAL.test(local) &&
    labels.length >= 2 &&
    labels.every((label) => MAIL_LABEL.test(label)) &&
    !/^\d+$/.test(labels.at(-1)!)
  );
}

/** An email address as mail servers take it (isMailbox), at most 254 characters. */
export const ZMailbox = ZText(254).refine(isMailbox, 'must be a valid email address');

/** Notes on a write that succeeded, about what the creator may not have meant (present only when there are some). */
export const ZWarnings = z.array(z.object({ field: z.string(), message: z.string() }));
