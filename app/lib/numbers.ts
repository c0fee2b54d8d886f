const INTEGER = new Intl.NumberFormat('en-US');
const COMPACT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** A quantity from the API (exact decimal string): grouped, up to 4 decimals shown. */
export function formatQuantity(value: string | number): string {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) return String(value);
  return new Intl.NumberFormat('en-US', { maximumFractionDigits: Math.abs(n) >= 100 ? 0 : 4 }).format(n);
}

export const formatCount = (n: number) => INTEGER.format(n);
export const formatCompact = (n: number) => COMPACT.format(n);

/** Money from an exact decimal string, in USD (overage prices are per unit, in the Stripe account's currency). */
export function formatMoney(value: string | number): string {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) return String(value);
  const small = n !== 0 && Math.abs(n) < 1;
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: small ? 4 : 2 }).format(n);
}
