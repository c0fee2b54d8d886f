const DAY_MS = 86_400_000;

/**
 * A period's days for a chart, one per UTC day from the period's first to today (or its last
 * day, once it has ended), with 0 for a day without usage: a chart of only the days that had
 * usage put 2 and 27 November side by side and hid the 24 idle days between them.
 */
export function daySeries(days: Array<{ day: string; used: string }>, periodStart: string, periodEnd: string, today: string): Array<{ day: Date; used: string }> {
  const used = new Map(days.map((d) => [new Date(d.day).getTime(), d.used]));
  const first = Math.floor(Date.parse(periodStart) / DAY_MS) * DAY_MS;
  // The last day drawn: today while the period runs, its last day once it has ended, and never
  // before a day that has usage (a clock a little behind the server's).
  const last = Math.max(Math.floor(Math.min(Date.parse(today), Date.parse(periodEnd) - 1) / DAY_MS) * DAY_MS, ...used.keys());
  const series: Array<{ day: Date; used: string }> = [];
  for (let t = first; t <= last; t += DAY_MS) series.push({ day: new Date(t), used: used.get(t) ?? '0' });
  return series;
}
