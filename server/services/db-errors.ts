/** The Postgres error under whatever the driver or ORM wrapped it in. */
export function pgError(error: unknown): { code?: string; constraint_name?: string } | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const candidate = current as { code?: unknown; constraint_name?: unknown; cause?: unknown };
    if (typeof candidate.code === 'string' && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return candidate as { code: string; constraint_name?: string };
    }
    current = candidate.cause;
  }
  return null;
}

export const isUniqueViolation = (error: unknown, constraint: string) => {
  const pg = pgError(error);
  return pg?.code === '23505' && pg.constraint_name === constraint;
};
