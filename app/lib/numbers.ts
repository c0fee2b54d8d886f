import Decimal from 'decimal.js';

/**
 * Numbers for people, from the API's exact decimal strings: never through a binary float
 * where the value is exact (so $0.234 stays $0.234), thousands grouped, a real minus sign.
 */

const INTEGER = new Intl.NumberFormat('en-US');
const COMPACT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

const groupDigits = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/**
 * A decimal string with thousands separators and at least `minFraction` decimals. Without
 * `maxFraction` its digits are kept as written; with it, rounded half-even to that many.
 */
export function formatDecimal(value: string, minFraction = 0, maxFraction?: number): string {
  let text = value;
  if (maxFraction !== undefined) {
    try {
      text = new Decimal(value).toDecimalPlaces(maxFraction, Decimal.ROUND_HALF_EVEN).toFixed();
    } catch {
      return value;
    }
  }
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = (negative ? text.slice(1) : text).split('.');
  const shown = fraction.padEnd(minFraction, '0');
  const isZero = /^0*$/.test(whole + fraction);
  return `${negative && !isZero ? '−' : ''}${groupDigits(whole)}${shown ? `.${shown}` : ''}`;
}

const withDollar = (text: string) => (text.startsWith('−') ? `−$${text.slice(1)}` : `$${text}`);

/** Money billed: exact (up to 9 decimals, at least cents). Overage prices are in the Stripe account's currency; shown as $. */
export const formatMoney = (value: string) => withDollar(formatDecimal(value, 2, 9));

/** Money that is an estimate (projections): to the cent. */
export const formatEstimate = (value: string) => withDollar(formatDecimal(value, 2, 2));

/**
 * Money at a glance (headline figures): to the cent, like an invoice; an amount that is
 * not zero but rounds to it reads "< $0.01", never "$0.00". Pair it with formatMoney
 * (exact) where a reader can ask for the exact amount.
 */
export function formatCents(value: string): string {
  const cents = formatDecimal(value, 2, 2);
  if (!/^[−-]?0\.00$/.test(cents) || /^[-0.]*$/.test(value)) return withDollar(cents);
  return value.startsWith('-') ? '> −$0.01' : '< $0.01';
}

/** A quantity at a glance (headline figures, chart values): up to 4 decimals, whole from 100 up. */
export function formatQuantity(value: string | number): string {
  const text = String(value);
  return formatDecimal(text, 0, Math.abs(Number(text)) >= 100 ? 0 : 4);
}

/**
 * A chart point (a JSON number, about 15 significant digits) written out in full: the figure a
 * chart's table view and tooltip give, where formatQuantity's rounding would hide part of it
 * (312.375 GB read "312"). Never in exponent form (1e-7 reads 0.0000001); at most 9 decimals,
 * the precision of every quantity.
 */
export function formatChartValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return formatDecimal(new Decimal(value).toFixed(), 0, 9);
}

/** A percentage as every dashboard page writes it: its digits as given (no float), thousands grouped, then " %" ("166.7 %"). */
export const formatPercent = (value: string | number) => `${formatDecimal(String(value))} %`;

/** A fraction of a limit ("0.57") as a percentage ("57 %"), exact: never through a float (0.57 × 100 = 56.99999999999999). */
export function formatFractionAsPercent(fraction: string): string {
  try {
    return formatPercent(new Decimal(fraction).times(100).toFixed());
  } catch {
    return fraction;
  }
}

export const formatCount = (n: number) => INTEGER.format(n);
export const formatCompact = (n: number) => COMPACT.format(n);
