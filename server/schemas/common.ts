import { z } from 'zod';

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
