import { timingSafeEqual } from 'node:crypto';

/**
 * Dashboard forms carry the session's CSRF secret; a cross-site form cannot read it.
 * Kept free of database imports: the Remix bundle includes what app/ imports.
 */
export function isValidCsrfToken(session: { csrfSecret: string }, token: unknown): boolean {
  if (typeof token !== 'string') return false;
  const expected = Buffer.from(session.csrfSecret);
  const given = Buffer.from(token);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
