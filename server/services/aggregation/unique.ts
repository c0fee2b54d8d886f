import { createHash } from 'node:crypto';
import { MAX_DISTINCT_KEY_BYTES } from '../../../db/schema.js';
import type { Aggregation } from './types.js';
import { identityUnits } from './types.js';

/**
 * Number of distinct values of the meter's unique_property (or of the event value) in
 * the period, exact: every distinct value is stored once per customer × period, so the
 * count grows only when a value is new.
 */
export const unique: Aggregation = {
  ...identityUnits,
  distinct: true,
  next: (current, { isNewDistinct }) => (isNewDistinct ? current.plus(1) : current),
};

/**
 * The distinct key of an event: the property's JSON (so 1 and "1" differ), or the value;
 * `h:` and the SHA-256 (hex) of that when it is longer than MAX_DISTINCT_KEY_BYTES
 * (db/queries/seed.ts rebuilds keys the same way).
 */
export function distinctKeyOf(event: { value: string; properties: Record<string, unknown> }, uniqueProperty: string | null): string | null {
  if (!uniqueProperty) return `v:${event.value}`;
  if (!Object.hasOwn(event.properties, uniqueProperty)) return null;
  const raw = event.properties[uniqueProperty];
  if (raw === null || raw === undefined) return null;
  const key = `p:${JSON.stringify(raw)}`;
  return Buffer.byteLength(key) > MAX_DISTINCT_KEY_BYTES ? `h:${createHash('sha256').update(key).digest('hex')}` : key;
}
