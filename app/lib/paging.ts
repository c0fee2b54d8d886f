/**
 * A newest-first keyset page asked for one row longer than it shows: the rows shown, and the
 * cursor to the older ones when there are more (a list exactly one page long offers no link to
 * an empty page). Both halves of the cursor, `before` + `before_id`: rows created together
 * share a created_at.
 */
export function keysetPage<T extends { id: string; created_at: string }>(fetched: T[], size: number): { rows: T[]; older: { before: string; before_id: string } | null } {
  const rows = fetched.slice(0, size);
  const last = rows.at(-1);
  return { rows, older: fetched.length > size && last ? { before: last.created_at, before_id: last.id } : null };
}
