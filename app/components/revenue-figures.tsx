import Decimal from 'decimal.js';
import type { ReactNode } from 'react';

/**
 * Figures of the Revenue page from the API's exact decimal strings: formatted from the
 * decimal, never through a binary float, so $0.234 stays $0.234.
 */
const group = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

function formatDecimal(value: string, minFraction: number, maxFraction: number): string {
  let d: Decimal;
  try {
    d = new Decimal(value);
  } catch {
    return value;
  }
  const rounded = d.toDecimalPlaces(maxFraction, Decimal.ROUND_HALF_EVEN);
  const [int = '0', fraction = ''] = rounded.abs().toFixed().split('.');
  const shown = fraction.padEnd(minFraction, '0');
  return `${rounded.isNegative() && !rounded.isZero() ? '−' : ''}${group(int)}${shown ? `.${shown}` : ''}`;
}

/** Money billed: exact (up to 9 decimals, at least cents). Overage prices are in the currency of your Stripe account; shown as $. */
export const formatMoney = (value: string) => {
  const text = formatDecimal(value, 2, 9);
  return text.startsWith('−') ? `−$${text.slice(1)}` : `$${text}`;
};

/** Money that is an estimate (projections): to the cent. */
export const formatEstimate = (value: string) => {
  const text = formatDecimal(value, 2, 2);
  return text.startsWith('−') ? `−$${text.slice(1)}` : `$${text}`;
};

/** A quantity in a meter's unit: whole numbers grouped, up to 2 decimals (exact values stay in the API). */
export const formatQuantity = (value: string) => formatDecimal(value, 0, 2);

/** Chart values are plain numbers (Tremor draws floats); tables keep the exact figures. */
export const chartNumber = (value: string) => Number(value);

/** A signed money change: green when revenue grows, red when it shrinks, announced with its sign. */
export function MoneyDelta({ value, className = '' }: { value: string; className?: string }) {
  const d = new Decimal(value);
  const tone = d.isZero() ? 'text-tremor-content' : d.isPositive() ? 'text-emerald-700' : 'text-red-700';
  const text = d.isZero() ? formatMoney('0') : d.isPositive() ? `+${formatMoney(value)}` : formatMoney(value);
  return <span className={`tabular-nums ${tone} ${className}`}>{text}</span>;
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
