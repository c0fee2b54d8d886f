/**
 * Exact comparisons of the server's decimal strings (and of numbers, read as they are
 * written: 0.8 is "0.8"), for what the components show: a double's division is not exact
 * (8.1 / 10.125 is 0.7999999999999999, 0.87 × 100 is 86.99999999999999), and a customer at
 * exactly 80 % must be told so. Values are BigInts scaled by a power of ten.
 */
type Decimal = { n: bigint; scale: number };

const PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/;
const TEN = BigInt(10);
const pow10 = (k: number) => TEN ** BigInt(k);

/** `value` exactly (n / 10^scale), or null when it is not a finite decimal. */
function parse(value: string | number): Decimal | null {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value.trim();
  const match = PATTERN.exec(text);
  if (!match) return null;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  if (whole === '' && fraction === '') return null;
  let n = BigInt(whole + fraction);
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    n *= pow10(-scale);
    scale = 0;
  }
  return { n: sign === '-' ? -n : n, scale };
}

/** a and b over one denominator (10^scale). */
const align = (a: Decimal, b: Decimal): [bigint, bigint] => {
  const scale = Math.max(a.scale, b.scale);
  return [a.n * pow10(scale - a.scale), b.n * pow10(scale - b.scale)];
};

/** Floor of a / b, b > 0 (BigInt division truncates towards zero). */
const floorDiv = (a: bigint, b: bigint) => {
  const q = a / b;
  return a % b !== BigInt(0) && a < BigInt(0) ? q - BigInt(1) : q;
};

/**
 * Whether `used` ≥ `fraction` × `limit`, exactly (fraction 1: the limit is reached). Figures
 * that are not decimals are compared as numbers.
 */
export function reaches(used: string | number, limit: string | number, fraction: string | number = 1): boolean {
  const u = parse(used);
  const l = parse(limit);
  const f = parse(fraction);
  if (!u || !l || !f) return Number(used) >= Number(fraction) * Number(limit);
  const [a, b] = align(u, { n: l.n * f.n, scale: l.scale + f.scale });
  return a >= b;
}

/**
 * `used` as a percentage of `limit` (> 0), exactly: rounded down (`floor`: "you have used
 * 87 %" only once 87 % is used) or to nearest, halves up (`round`).
 */
export function percentOf(used: string | number, limit: string | number, mode: 'floor' | 'round'): number {
  const u = parse(used);
  const l = parse(limit);
  if (!u || !l || l.n <= BigInt(0)) {
    const share = (Number(used) / Number(limit)) * 100;
    return mode === 'floor' ? Math.floor(share) : Math.round(share);
  }
  const [a, b] = align({ n: u.n * BigInt(100), scale: u.scale }, l);
  return Number(mode === 'floor' ? floorDiv(a, b) : floorDiv(BigInt(2) * a + b, BigInt(2) * b));
}
