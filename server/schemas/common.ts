import { z } from 'zod';

/** Strings from the outside: no NUL bytes (Postgres text refuses them) and no lone surrogates. */
export const ZText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .refine((s) => s.isWellFormed(), 'must be valid Unicode');

export const ZId = z.uuid('must be a UUID');
