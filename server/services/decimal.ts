import Decimal from 'decimal.js';

/**
 * Exact decimal arithmetic for quantities and money. 40 significant digits holds any
 * value we accept (≤ 10^18, 9 decimals) and any product of two of them, exactly.
 */
export const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -40, toExpPos: 40 });
export type D = InstanceType<typeof D>;

/** The wire form: plain decimal notation, no exponent, no trailing zeros ("0.3", "10000"). */
export const toWire = (value: D): string => value.toFixed();

/** At most 9 decimals, half-even: the precision of every quantity we answer or bill (conversions such as seconds → minutes can repeat). */
export const roundQuantity = (value: D): D => value.toDecimalPlaces(9, D.ROUND_HALF_EVEN);

/** At most 9 decimals on the wire. */
export const toWireRounded = (value: D): string => roundQuantity(value).toFixed();
