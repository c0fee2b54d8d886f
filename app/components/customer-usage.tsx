import { Badge } from '@tremor/react';
import { formatFractionAsPercent, formatPercent } from '~/lib/numbers';

const barColor = (percent: number, soft: number | null) => (percent > 100 ? 'bg-red-500' : percent >= 100 || (soft !== null && percent >= soft) ? 'bg-amber-500' : 'bg-tremor-brand');

/**
 * Used against the limit: a bar to 100 % (overage fills it red), the soft-limit threshold
 * as a tick, and the figures in words for screen readers.
 */
export function LimitBar({
  percent,
  limit,
  used,
  softThreshold = null,
  label,
  compact = false,
}: {
  /** used / limit × 100 as a decimal string (null: no limit, or a limit of 0). */
  percent: string | null;
  /** The limit (null: unlimited) and the usage, as the API answers them. */
  limit: string | null;
  used: string;
  /** A fraction of the limit (0.8). */
  softThreshold?: string | null;
  label: string;
  compact?: boolean;
}) {
  if (limit === null) return <span className="text-tremor-label text-tremor-content">No limit</span>;
  // A limit of 0 has no share to work out: any usage is beyond it, and none is at it (a hard cap
  // of 0 refuses every event).
  const zeroLimit = percent === null;
  const beyondZero = zeroLimit && /[1-9]/.test(used) && !used.startsWith('-');
  const value = zeroLimit ? (beyondZero ? 101 : 100) : Number(percent);
  const text = zeroLimit ? (beyondZero ? 'Beyond a limit of 0' : 'At a limit of 0') : formatPercent(percent);
  const soft = softThreshold === null ? null : Number(softThreshold) * 100;
  return (
    <div className={compact ? 'w-28' : 'w-full'}>
      <div
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.min(value, 100)}
        aria-valuetext={zeroLimit ? text : `${text} of the limit${softThreshold !== null ? `, soft limit at ${formatFractionAsPercent(softThreshold)}` : ''}`}
        className={`relative overflow-hidden rounded-full bg-tremor-background-subtle ${compact ? 'h-1.5' : 'h-2.5'}`}
      >
        <div className={`h-full rounded-full ${barColor(value, soft)}`} style={{ width: `${Math.min(Math.max(value, 0), 100)}%` }} />
        {soft !== null && soft > 0 && soft < 100 ? (
          <span aria-hidden="true" title={`Soft limit: ${formatFractionAsPercent(softThreshold!)}`} className="absolute inset-y-0 w-0.5 bg-tremor-content-emphasis" style={{ left: `${soft}%` }} />
        ) : null}
      </div>
      <p className={`mt-1 tabular-nums text-tremor-label ${value > 100 ? 'font-medium text-red-700' : 'text-tremor-content'}`}>{text}</p>
    </div>
  );
}

export function HardCapBadge() {
  return (
    <span className="inline-flex" title="Events past the limit are refused (402).">
      <Badge color="red" size="xs">
        Hard cap
      </Badge>
    </span>
  );
}
