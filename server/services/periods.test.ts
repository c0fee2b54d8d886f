import { describe, expect, it } from 'vitest';
import { periodAt, previousPeriod } from './periods.js';

const iso = (p: { start: Date; end: Date }) => [p.start.toISOString(), p.end.toISOString()];

describe('billing periods', () => {
  it('uses calendar months (UTC) without an anchor, with exact boundaries', () => {
    expect(iso(periodAt(new Date('2026-11-25T13:00:00Z'), null))).toEqual(['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z']);
    expect(iso(periodAt(new Date('2026-11-30T23:59:59.999Z'), null))).toEqual(['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z']);
    expect(iso(periodAt(new Date('2026-12-01T00:00:00.000Z'), null))).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(iso(periodAt(new Date('2026-12-31T12:00:00Z'), null))).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('starts periods at the anchor day and time', () => {
    const anchor = new Date('2026-01-15T09:30:00Z');
    expect(iso(periodAt(new Date('2026-11-15T09:29:59.999Z'), anchor))).toEqual(['2026-10-15T09:30:00.000Z', '2026-11-15T09:30:00.000Z']);
    expect(iso(periodAt(new Date('2026-11-15T09:30:00.000Z'), anchor))).toEqual(['2026-11-15T09:30:00.000Z', '2026-12-15T09:30:00.000Z']);
    expect(iso(periodAt(new Date('2027-01-02T00:00:00Z'), anchor))).toEqual(['2026-12-15T09:30:00.000Z', '2027-01-15T09:30:00.000Z']);
  });

  it('clamps an anchor on the 31st to the last day of shorter months', () => {
    const anchor = new Date('2026-01-31T00:00:00Z');
    expect(iso(periodAt(new Date('2026-02-28T12:00:00Z'), anchor))).toEqual(['2026-02-28T00:00:00.000Z', '2026-03-31T00:00:00.000Z']);
    expect(iso(periodAt(new Date('2026-02-27T12:00:00Z'), anchor))).toEqual(['2026-01-31T00:00:00.000Z', '2026-02-28T00:00:00.000Z']);
  });

  it('finds the previous period', () => {
    expect(iso(previousPeriod(new Date('2026-01-10T00:00:00Z'), null))).toEqual(['2025-12-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
  });
});
