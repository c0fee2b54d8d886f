import Decimal from 'decimal.js';
import type { ReactNode } from 'react';
import { formatCents, formatDecimal, formatMoney } from '~/lib/numbers';

/** A quantity in a meter's unit as billed or as the plan's terms say it: exact, grouped (the API's figure). */
export const formatRevenueQuantity = (value: string) => formatDecimal(value);

/** A projected quantity (an estimate to the period's end): up to 2 decimals. */
export const formatProjectedQuantity = (value: string) => formatDecimal(value, 0, 2);

/** Chart values are plain numbers (Tremor draws floats); tables keep the exact figures. */
export const chartNumber = (value: string) => Number(value);

/** A signed money change: green when revenue grows, red when it shrinks, announced with its sign. */
export function MoneyDelta({ value, className = '' }: { value: string; className?: string }) {
  const d = new Decimal(value);
  const tone = d.isZero() ? 'text-tremor-content' : d.isPositive() ? 'text-emerald-700' : 'text-red-700';
  const text = d.isZero() ? formatMoney('0') : d.isPositive() ? `+${formatMoney(value)}` : formatMoney(value);
  return <span className={`tabular-nums ${tone} ${className}`}>{text}</span>;
}

/** A headline amount: to the cent, the exact amount on hover. */
export function MoneyAtAGlance({ amount }: { amount: string }) {
  return <span title={`Exactly ${formatMoney(amount)}`}>{formatCents(amount)}</span>;
}

/** One headline figure with its label and a line of context. */
export function RevenueStat({ label, value, children, testId }: { label: string; value: ReactNode; children?: ReactNode; testId?: string }) {
  return (
    <div className="rounded-tremor-default border border-tremor-border bg-white p-4 shadow-tremor-card" data-testid={testId}>
      <p className="text-tremor-default text-tremor-content">{label}</p>
      <p className="mt-1 text-2xl font-semibold tabular-nums text-tremor-content-strong">{value}</p>
      {children ? <p className="mt-1 text-tremor-label text-tremor-content">{children}</p> : null}
    </div>
  );
}

export const plural = (n: number, one: string, many = `${one}s`) => `${new Intl.NumberFormat('en-US').format(n)} ${n === 1 ? one : many}`;
