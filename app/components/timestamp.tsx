import { formatDate, formatDateTime, formatDayRange } from '~/lib/format';

/** A moment in a table: the day (or day and time), the exact time on hover. */
export function Timestamp({ iso, withTime = false }: { iso: string | null; withTime?: boolean }) {
  if (!iso) return <span className="text-tremor-content-subtle">—</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)} className="whitespace-nowrap">
      {withTime ? formatDateTime(iso) : formatDate(iso)}
    </time>
  );
}

/**
 * A billing period [start, end) as the days it covers ("1–30 Nov 2026"): the end is the
 * first moment of the next period, so the last day shown is the one before it.
 */
export function Period({ start, end }: { start: string; end: string }) {
  const from = new Date(start);
  const lastMoment = new Date(Math.max(from.getTime(), new Date(end).getTime() - 1));
  return (
    <span className="whitespace-nowrap" title={`${formatDateTime(start)} until ${formatDateTime(end)}`}>
      {formatDayRange(from, lastMoment)}
    </span>
  );
}
