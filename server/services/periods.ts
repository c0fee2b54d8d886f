/**
 * Billing periods: monthly, starting at the customer's billing anchor (its day of month
 * and time of day, UTC), or calendar months (UTC) when there is none. An anchor on the
 * 29th–31st falls on the last day of shorter months, as Stripe does.
 */
export type Period = { start: Date; end: Date };

function anchoredStart(year: number, month: number, anchor: Date): Date {
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(year, month, Math.min(anchor.getUTCDate(), lastDay), anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds(), anchor.getUTCMilliseconds()),
  );
}

export function periodAt(at: Date, anchor: Date | null): Period {
  if (!anchor) {
    const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
    return { start, end: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)) };
  }
  let year = at.getUTCFullYear();
  let month = at.getUTCMonth();
  let start = anchoredStart(year, month, anchor);
  if (start > at) {
    month -= 1;
    if (month < 0) {
      month = 11;
      year -= 1;
    }
    start = anchoredStart(year, month, anchor);
  }
  const nextMonth = month === 11 ? 0 : month + 1;
  const nextYear = month === 11 ? year + 1 : year;
  return { start, end: anchoredStart(nextYear, nextMonth, anchor) };
}

/** The period before the one containing `at`. */
export function previousPeriod(at: Date, anchor: Date | null): Period {
  const current = periodAt(at, anchor);
  return periodAt(new Date(current.start.getTime() - 1), anchor);
}

/** The shortest billing period (a February): two periods of one customer never end closer together. */
export const SHORTEST_PERIOD_MS = 28 * 24 * 3600_000;

/**
 * Whether a recorded period (with usage) is a customer's previous one at `at`: it ends at the
 * current period's start (under the anchor now) or, after the anchor moved, less than the
 * shortest period before it — the period last metered under the old anchor, whose usage and
 * overage stand (the anchor-derived previous period would be days never metered as one).
 */
export function isPreviousPeriod(period: Period, at: Date, anchor: Date | null): boolean {
  const currentStart = periodAt(at, anchor).start.getTime();
  const end = period.end.getTime();
  return end <= currentStart && end > currentStart - SHORTEST_PERIOD_MS;
}

/**
 * Whether a billing period with usage recorded is at odds with `anchor` while events can still
 * reach it: some period under `anchor` still taking events (the earliest holds `openFrom`, the
 * late-event grace's start) overlaps it, and it is not itself a period under `anchor` — its
 * usage would move between periods, or its days be metered again under another period's limit.
 */
export function periodConflictsWithAnchor(period: Period, anchor: Date | null, openFrom: Date): boolean {
  if (period.end.getTime() <= periodAt(openFrom, anchor).start.getTime()) return false;
  const under = periodAt(period.start, anchor);
  return under.start.getTime() !== period.start.getTime() || under.end.getTime() !== period.end.getTime();
}
