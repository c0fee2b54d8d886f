import { describe, expect, it } from 'vitest';
import { formatCents, formatDecimal, formatEstimate, formatMoney, formatQuantity } from './numbers';

describe('numbers for people, from exact decimal strings', () => {
  it('groups thousands and keeps the digits as written', () => {
    expect(formatDecimal('1234567.0075')).toBe('1,234,567.0075');
    expect(formatDecimal('140.00')).toBe('140.00');
    expect(formatDecimal('-1500')).toBe('−1,500');
    expect(formatDecimal('0')).toBe('0');
    expect(formatDecimal('2.5', 2)).toBe('2.50');
  });

  it('rounds half-even only when asked, never through a float', () => {
    expect(formatDecimal('0.125', 0, 2)).toBe('0.12');
    expect(formatDecimal('0.135', 0, 2)).toBe('0.14');
    expect(formatDecimal('-0.001', 0, 2)).toBe('0');
    expect(formatDecimal('not a number', 0, 2)).toBe('not a number');
  });

  it('money: exact to 9 decimals, at least cents; estimates to the cent', () => {
    expect(formatMoney('0.234')).toBe('$0.234');
    expect(formatMoney('1')).toBe('$1.00');
    expect(formatMoney('11136.78')).toBe('$11,136.78');
    expect(formatMoney('-1.5')).toBe('−$1.50');
    expect(formatMoney('0.0000000004')).toBe('$0.00');
    expect(formatEstimate('1.545')).toBe('$1.54');
  });

  it('money at a glance: to the cent, and an amount that rounds to nothing is not shown as nothing', () => {
    expect(formatCents('511.739083999')).toBe('$511.74');
    expect(formatCents('1234567.005')).toBe('$1,234,567.00');
    expect(formatCents('0.6')).toBe('$0.60');
    expect(formatCents('0')).toBe('$0.00');
    expect(formatCents('0.000')).toBe('$0.00');
    expect(formatCents('0.004')).toBe('< $0.01');
    expect(formatCents('0.0000000004')).toBe('< $0.01');
    expect(formatCents('-0.004')).toBe('> −$0.01');
    expect(formatCents('-2.5')).toBe('−$2.50');
  });

  it('quantities at a glance: up to 4 decimals, whole from 100', () => {
    expect(formatQuantity('1.5')).toBe('1.5');
    expect(formatQuantity(0.1 + 0.2)).toBe('0.3');
    expect(formatQuantity('1234.56')).toBe('1,235');
    expect(formatQuantity(14)).toBe('14');
  });
});
