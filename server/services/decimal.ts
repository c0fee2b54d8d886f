import Decimal from 'decimal.js';

/**
 * Exact decimal arithmetic for quantities and money. A value we accept has up to 27
 * significant digits (< 10^18, 9 decimals) and a period counter sums many of them, so an
 * overage amount (quantity × price) needs 54 digits and more: at 40, a large amount lost its
 * last decimals before it was rounded to 9 (Postgres's numeric, which the overview sums with,
 * kept them). 100 digits hold any product of a counter and a price exactly, and the sums
 * of such amounts over customers; divisions (seconds → hours) are rounded at 100 digits,
 * far below the 9 decimals every figure is then rounded to.
 */
export const D = Decimal.clone({ precision: 100, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -100, toExpPos: 100 });
export type D = InstanceType<typeof D>;

/** The wire form: plain decimal notation, no exponent, no trailing zeros ("0.3", "10000"). */
export const toWire = (value: D): string => value.toFixed();

/** At most 9 decimals, half-even: the precision of every quantity we answer or bill (conversions such as seconds → minutes can repeat). */
export const roundQuantity = (value: D): D => value.toDecimalPlaces(9, D.ROUND_HALF_EVEN);

/** At most 9 decimals on the wire. */
export const toWireRounded = (value: D): string => roundQuantity(value).toFixed();
