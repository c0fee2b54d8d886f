import { z } from 'zod';

/** Largest magnitude we accept: far beyond any real usage, and exact in numeric and decimal.js. */
export const MAX_DECIMAL = 1e18;
export const MAX_DECIMALS = 9;

const DECIMAL_STRING = /^(?:0|[1-9]\d{0,17})(?:\.\d{1,9})?$/;

/**
 * A number as JavaScript prints it, in plain notation: below 10^-6 it prints as `5e-7`,
 * the same shortest round-tripping digits with an exponent (larger numbers than 10^21,
 * the other exponent form, are refused before this).
 */
function plainNumber(value: number): string {
  const text = String(value);
  const small = /^(\d)(?:\.(\d+))?e-(\d+)$/.exec(text);
  if (!small) return text;
  const [, lead, fraction = '', exponent] = small;
  return `0.${'0'.repeat(Number(exponent) - 1)}${lead}${fraction}`;
}

/**
 * A non-negative decimal sent as a JSON number or a decimal string, normalised to a
 * decimal string. JSON numbers pass through binary floating point, so only those that
 * print back exactly (≤ 9 decimals once in plain notation, safe magnitude) are accepted;
 * anything finer must be a string.
 */
export const ZDecimal = z
  .union([z.number(), z.string()], { error: 'must be a number or a decimal string' })
  .transform((value, ctx): string => {
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        ctx.addIssue({ code: 'custom', message: 'must be a finite number' });
        return z.NEVER;
      }
      if (value < 0) {
        ctx.addIssue({ code: 'custom', message: 'must be ≥ 0' });
        return z.NEVER;
      }
      if (!Number.isSafeInteger(Math.trunc(value)) || value >= MAX_DECIMAL) {
        ctx.addIssue({ code: 'custom', message: 'is too large; send large values as a decimal string (at most 10^18)' });
        return z.NEVER;
      }
      const text = plainNumber(value);
      if (!DECIMAL_STRING.test(text)) {
        ctx.addIssue({ code: 'custom', message: `must have at most ${MAX_DECIMALS} decimal places` });
        return z.NEVER;
      }
      return text;
    }
    const text = value.trim();
    if (text.startsWith('-')) {
      ctx.addIssue({ code: 'custom', message: 'must be ≥ 0' });
      return z.NEVER;
    }
    if (!DECIMAL_STRING.test(text)) {
      ctx.addIssue({ code: 'custom', message: `must be a decimal like "12.5" (at most ${MAX_DECIMALS} decimal places, below 10^18)` });
      return z.NEVER;
    }
    return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
  });
