import { describe, expect, it } from 'vitest';
import { daySeries } from './day-series';

const iso = (s: string) => new Date(s).toISOString();

describe('daySeries: a period’s days for the customer page’s chart', () => {
  it('draws every day from the period’s first to today, idle days as 0 (usage on 2 and 27 November is not drawn side by side)', () => {
    const series = daySeries(
      [
        { day: iso('2026-11-02T00:00:00Z'), used: '2' },
        { day: iso('2026-11-27T00:00:00Z'), used: '1' },
      ],
      iso('2026-11-01T00:00:00Z'),
      iso('2026-12-01T00:00:00Z'),
      iso('2026-11-29T13:45:00Z'),
    );
    expect(series).toHaveLength(29);
    expect(series[0]).toEqual({ day: new Date('2026-11-01T00:00:00Z'), used: '0' });
    expect(series[1]!.used).toBe('2');
    expect(series.slice(2, 26).every((d) => d.used === '0')).toBe(true);
    expect(series[26]).toEqual({ day: new Date('2026-11-27T00:00:00Z'), used: '1' });
    expect(series.at(-1)).toEqual({ day: new Date('2026-11-29T00:00:00Z'), used: '0' });
  });

  it('an anchored period starts on its own day; an ended period stops at its last day, not today', () => {
    const series = daySeries([{ day: iso('2026-10-23T00:00:00Z'), used: '5.5' }], iso('2026-10-22T12:00:00Z'), iso('2026-11-22T12:00:00Z'), iso('2026-11-29T00:00:00Z'));
    expect(series[0]!.day).toEqual(new Date('2026-10-22T00:00:00Z'));
    expect(series[1]!.used).toBe('5.5');
    expect(series.at(-1)!.day).toEqual(new Date('2026-11-22T00:00:00Z'));
    expect(series).toHaveLength(32);
  });

  it('a day with usage after "today" (a clock behind the server’s) is still drawn', () => {
    const series = daySeries([{ day: iso('2026-11-30T00:00:00Z'), used: '1' }], iso('2026-11-01T00:00:00Z'), iso('2026-12-01T00:00:00Z'), iso('2026-11-29T23:59:59Z'));
    expect(series.at(-1)).toEqual({ day: new Date('2026-11-30T00:00:00Z'), used: '1' });
  });
});
