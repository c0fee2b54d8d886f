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

/** JSON with every object's keys in sorted order: one spelling per value, whatever order the keys were sent in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const keyFor = (json: string) => {
  const key = `p:${json}`;
  return Buffer.byteLength(key) > MAX_DISTINCT_KEY_BYTES ? `h:${createHash('sha256').update(key).digest('hex')}` : key;
};

const propertyOf = (event: { properties: Record<string, unknown> }, uniqueProperty: string): unknown =>
  Object.hasOwn(event.properties, uniqueProperty) ? event.properties[uniqueProperty] : undefined;

/**
 * The distinct key of an event: the property's JSON (so 1 and "1" differ; an object's keys
 * in sorted order, so {"a":1,"b":2} and {"b":2,"a":1} are one value, as the consistency check
 * and the preview, reading jsonb, count them), or the value; `h:` and the SHA-256 (hex) of
 * that when it is longer than MAX_DISTINCT_KEY_BYTES (db/queries/seed.ts rebuilds keys the same way).
 */
export function distinctKeyOf(event: { value: string; properties: Record<string, unknown> }, uniqueProperty: string | null): string | null {
  if (!uniqueProperty) return `v:${event.value}`;
  const raw = propertyOf(event, uniqueProperty);
  if (raw === null || raw === undefined) return null;
  return keyFor(canonicalJson(raw));
}

/**
 * An event's distinct key (distinctKeyOf) and, when it differs, the key the same value was
 * stored under before object keys were sorted (2026-11-27: the JSON as sent; null otherwise).
 * Both are looked up, so that a value seen before that change is not counted again in its period.
 */
export function distinctKeysOf(event: { value: string; properties: Record<string, unknown> }, uniqueProperty: string | null): { key: string | null; legacy: string | null } {
  const key = distinctKeyOf(event, uniqueProperty);
  if (key === null || !uniqueProperty) return { key, legacy: null };
  const raw = propertyOf(event, uniqueProperty);
  if (typeof raw !== 'object') return { key, legacy: null };
  const legacy = keyFor(JSON.stringify(raw));
  return { key, legacy: legacy === key ? null : legacy };
}
