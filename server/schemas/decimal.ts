import { z } from 'zod';

/** Largest magnitude we accept: far beyond any real usage, and exact in numeric and decimal.js. */
export const MAX_DECIMAL = 1e18;
export const MAX_DECIMALS = 9;

const DECIMAL_STRING = /^(?:0|[1-9]\d{0,17})(?:\.\d{1,9})?$/;
const NUMBER_TEXT = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
const MAX_SAFE = String(Number.MAX_SAFE_INTEGER);
const NEGATIVE_ZERO = /^-0(?:\.0*)?$/;

/**
 * A JSON number literal as the client wrote it, where reading it as a double would have
 * changed its value (`12345678.123456789` reads as 12345678.12345679). The body reader
 * (server/http/json-numbers.ts) puts one in place of such a literal, so a decimal field
 * judges the digits that were sent; any other field refuses it, not being a number.
 */
export class JsonNumberText {
  constructor(readonly text: string) {}

  /**
   * Serialised again (tRPC takes a body read ahead of it as a value and writes it back out):
   * the decimal string it stands for, which ZDecimal reads the same; as written when it is
   * no such decimal (too large, negative), for ZDecimal's string rules to refuse.
   */
  toJSON(): string {
    const plain = plainDecimal(numberParts(this.text) ?? { negative: false, digits: '', exponent: 0 });
    return 'text' in plain ? plain.text : this.text;
  }
}

/** A number's value as `digits × 10^exponent`, digits without leading or trailing zeros ('' for zero). */
type NumberParts = { negative: boolean; digits: string; exponent: number };

/** The exact value of a JSON number literal, or of a number as JavaScript prints it (`1.5e+21`, `5e-7`); null for anything else. */
export function numberParts(text: string): NumberParts | null {
  const match = NUMBER_TEXT.exec(text);
  if (!match) return null;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  const all = whole + fraction;
  let start = 0;
  while (start < all.length && all.charCodeAt(start) === 48) start++;
  let end = all.length;
  while (end > start && all.charCodeAt(end - 1) === 48) end--;
  if (start === end) return { negative: false, digits: '', exponent: 0 };
  // A huge exponent is ±Infinity here, which the range checks below refuse like any too large or too fine value.
  return { negative: sign === '-', digits: all.slice(start, end), exponent: Number(exponent) - fraction.length + (all.length - end) };
}

/** Whether two number texts have the same exact value. */
export function sameNumber(a: NumberParts | null, b: NumberParts | null): boolean {
  return a !== null && b !== null && a.negative === b.negative && a.digits === b.digits && a.exponent === b.exponent;
}

/**
 * A number's exact value in plain decimal notation, or what is wrong with it: the rules for
 * values sent as JSON numbers (≥ 0, an integer part JavaScript holds exactly, at most 9
 * decimals). Bounds are checked on the digits, before any string is built: `1e999999999`
 * must not become a billion zeros.
 */
function plainDecimal({ negative, digits, exponent }: NumberParts): { text: string } | { problem: string } {
  if (digits === '') return { text: '0' };
  if (negative) return { problem: 'must be ≥ 0' };
  const integerDigits = digits.length + exponent;
  if (integerDigits > MAX_SAFE.length || (integerDigits === MAX_SAFE.length && digits.slice(0, integerDigits).padEnd(integerDigits, '0') > MAX_SAFE)) {
    return { problem: 'is too large for a JSON number (its integer part must be below 2^53); send it as a decimal string (below 10^18)' };
  }
  if (-exponent > MAX_DECIMALS) return { problem: `must have at most ${MAX_DECIMALS} decimal places` };
  if (exponent >= 0) return { text: digits + '0'.repeat(exponent) };
  if (integerDigits > 0) return { text: `${digits.slice(0, integerDigits)}.${digits.slice(integerDigits)}` };
  return { text: `0.${'0'.repeat(-integerDigits)}${digits}` };
}

/**
 * A non-negative decimal sent as a JSON number or a decimal string, normalised to a
 * decimal string. A JSON number counts for the value the client wrote: as a double when
 * that prints back exactly (`5e-7` read as `0.0000005`), else as its literal text (a
 * `JsonNumberText` from the body reader: `12345678.123456789` is kept, not rounded).
 * Either way ≤ 9 decimals and an integer part below 2^53; larger values must be strings.
 */
export const ZDecimal = z.preprocess(
  (value: number | string, ctx) => {
    const raw: unknown = value;
    if (!(raw instanceof JsonNumberText)) return value;
    const plain = plainDecimal(numberParts(raw.text) ?? { negative: false, digits: '', exponent: 0 });
    if ('problem' in plain) {
      ctx.addIssue({ code: 'custom', message: plain.problem });
      return z.NEVER;
    }
    return plain.text;
  },
  z
    .union([z.number(), z.string()], { error: 'must be a number or a decimal string' })
    .transform((value, ctx): string => {
      if (typeof value === 'number') {
        if (!Number.isFinite(value)) {
          ctx.addIssue({ code: 'custom', message: 'must be a finite number' });
          return z.NEVER;
        }
        // String(value) is the shortest text that reads back as this double, `5e-7` and `1e+21` included.
        const plain = plainDecimal(numberParts(String(value))!);
        if ('problem' in plain) {
          ctx.addIssue({ code: 'custom', message: plain.problem });
          return z.NEVER;
        }
        return plain.text;
      }
      const trimmed = value.trim();
      // Zero written with a sign is zero, as the JSON number -0 is: "must be ≥ 0" would be untrue. Judged without the sign.
      const text = NEGATIVE_ZERO.test(trimmed) ? trimmed.slice(1) : trimmed;
      if (text.startsWith('-')) {
        ctx.addIssue({ code: 'custom', message: 'must be ≥ 0' });
        return z.NEVER;
      }
      if (!DECIMAL_STRING.test(text)) {
        ctx.addIssue({ code: 'custom', message: `must be a decimal like "12.5" (at most ${MAX_DECIMALS} decimal places, below 10^18)` });
        return z.NEVER;
      }
      return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
    }),
);
