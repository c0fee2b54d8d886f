import { describe, expect, it } from 'vitest';
import { formatDayRange, formatPeriodLabel, formatPeriodTick, isCalendarDay } from './format.js';

describe('formatDayRange', () => {
  const range = (a: string, b: string) => formatDayRange(new Date(a), new Date(b));

  it('writes a period as the days it covers, with plain spaces whatever the ICU version', () => {
    expect(range('2026-11-01T00:00:00Z', '2026-11-30T23:59:59.999Z')).toBe('1–30 Nov 2026');
    expect(range('2026-10-31T15:30:00Z', '2026-11-30T15:29:59.999Z')).toBe('31 Oct – 30 Nov 2026');
    expect(range('2026-12-15T00:00:00Z', '2027-01-14T23:59:59.999Z')).toBe('15 Dec 2026 – 14 Jan 2027');
    expect(range('2026-11-05T01:00:00Z', '2026-11-05T02:00:00Z')).toBe('5 Nov 2026');
    // Days are UTC days: 23:30 UTC on the 1st is the 1st, wherever the browser is.
    expect(range('2026-03-01T23:30:00Z', '2026-03-31T23:30:00Z')).toBe('1–31 Mar 2026');
    for (const text of [range('2026-10-31T00:00:00Z', '2026-11-30T00:00:00Z')]) expect(text).not.toMatch(/[\u2009\u202f]/);
  });
});

describe('formatPeriodLabel', () => {
  const label = (a: string, b: string) => formatPeriodLabel(new Date(a), new Date(b));

  it('names a calendar month by the month, any other period by its days: two periods in one month read apart', () => {
    expect(label('2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z')).toBe('Nov 2026');
    expect(label('2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z')).toBe('Dec 2026');
    // The anchor moved to the 15th: the month's first period ends there, the next starts there
    expect(label('2026-11-01T00:00:00Z', '2026-11-15T00:00:00Z')).toBe('1–14 Nov 2026');
    expect(label('2026-11-15T00:00:00Z', '2026-12-15T00:00:00Z')).toBe('15 Nov – 14 Dec 2026');
    // Anchored at a time of day; across a year
    expect(label('2026-12-15T09:30:00Z', '2027-01-15T09:30:00Z')).toBe('15 Dec 2026 – 15 Jan 2027');
    // Starts on the 1st but is not the whole month
    expect(label('2026-11-01T00:00:00Z', '2026-12-01T00:00:01Z')).toBe('1 Nov – 1 Dec 2026');
    expect(label('2026-11-01T06:00:00Z', '2026-12-01T06:00:00Z')).toBe('1 Nov – 1 Dec 2026');
  });
});

describe('formatPeriodTick', () => {
  const tick = (a: string, b: string) => formatPeriodTick(new Date(a), new Date(b));

  it('names a calendar month by its month, any other period by the day it starts: short enough for one tick per period', () => {
    expect(tick('2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z')).toBe('Nov');
    expect(tick('2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z')).toBe('Dec');
    // Two periods in one month (the anchor moved to the 15th) read apart
    expect(tick('2026-11-01T00:00:00Z', '2026-11-15T00:00:00Z')).toBe('1 Nov');
    expect(tick('2026-11-15T00:00:00Z', '2026-12-15T00:00:00Z')).toBe('15 Nov');
    // Anchored at a time of day, or starting on the 1st without being the whole month
    expect(tick('2026-12-15T09:30:00Z', '2027-01-15T09:30:00Z')).toBe('15 Dec');
    expect(tick('2026-11-01T06:00:00Z', '2026-12-01T06:00:00Z')).toBe('1 Nov');
  });
});

describe('isCalendarDay', () => {
  it('takes real days only', () => {
    for (const day of ['2026-02-28', '2028-02-29', '2026-12-31', '2000-01-01']) expect(isCalendarDay(day), day).toBe(true);
    for (const day of ['2026-02-30', '2026-02-29', '2026-13-01', '2026-04-31', '9999-12-31', '1999-12-31', '2026-1-5', '2026-01-05T00:00:00Z', '']) {
      expect(isCalendarDay(day), day).toBe(false);
    }
  });
});

describe('unitFor', () => {
  it('is singular after a plain 1 for the plurals it knows, in the case typed, and as typed otherwise', async () => {
    const { unitFor } = await import('./format.js');
    expect(unitFor('1', 'calls')).toBe('call');
    expect(unitFor(1, 'seconds')).toBe('second');
    expect(unitFor('1', 'API calls')).toBe('API call');
    expect(unitFor('1', 'Calls')).toBe('Call');
    expect(unitFor('1', 'CALLS')).toBe('CALL');
    expect(unitFor('1', 'queries')).toBe('query');
    for (const shown of ['0', '2', '1.5', '1.0', '1K', '−1', '11', '1,000']) expect(unitFor(shown, 'calls'), shown).toBe('calls');
    // Units it does not know stay as typed, rather than becoming a wrong word
    for (const unit of ['GB', 'gb', 'ms', 'kWh', 'data', 'series', 'news', 'bus', 'status', 'unités', 'u', 'calls/s']) expect(unitFor('1', unit), unit).toBe(unit);
  });
});
