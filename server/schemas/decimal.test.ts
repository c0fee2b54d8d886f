import { describe, expect, it } from 'vitest';
import { ZDecimal } from './decimal.js';

const messageOf = (value: unknown) => {
  const parsed = ZDecimal.safeParse(value);
  return parsed.success ? null : parsed.error.issues[0]?.message;
};

describe('ZDecimal: zero with a sign', () => {
  it('the string "-0" is zero, as the JSON number -0 is (it was refused as "must be ≥ 0")', () => {
    expect(ZDecimal.parse(-0)).toBe('0');
    expect(ZDecimal.parse('-0')).toBe('0');
    expect(ZDecimal.parse('-0.000000000')).toBe('0');
    expect(ZDecimal.parse(' -0.0 ')).toBe('0');
  });

  it('a signed zero is judged as the zero it is: too many decimals are too many, not below zero', () => {
    expect(messageOf('-0.0000000000')).toBe(messageOf('0.0000000000'));
    expect(messageOf('-0.')).toBe(messageOf('0.'));
    expect(messageOf('0.')).toMatch(/^must be a decimal like/);
  });

  it('below zero is still refused, however small, and so is a minus before other digits', () => {
    expect(messageOf('-0.000000001')).toBe('must be ≥ 0');
    expect(messageOf('-1')).toBe('must be ≥ 0');
    expect(messageOf(-0.5)).toBe('must be ≥ 0');
    expect(messageOf('-00')).toBe('must be ≥ 0');
  });
});
