import { describe, expect, it } from 'vitest';
import { D, toWireRounded } from '../decimal.js';
import { AGGREGATIONS, distinctKeyOf } from './index.js';

const run = (type: keyof typeof AGGREGATIONS, values: Array<string | [string, boolean]>) =>
  values.reduce((acc, v) => {
    const [value, isNewDistinct] = Array.isArray(v) ? v : [v, false];
    return AGGREGATIONS[type].next(acc, { value: new D(value), isNewDistinct });
  }, new D(0));

describe('aggregations', () => {
  it('count counts events whatever their value', () => expect(run('count', ['5', '0', '0.5']).toFixed()).toBe('3'));
  it('sum is exact in decimals', () => expect(run('sum', ['0.1', '0.2']).toFixed()).toBe('0.3'));
  it('max keeps the largest', () => expect(run('max', ['3', '7.5', '2']).toFixed()).toBe('7.5'));
  it('unique grows only on new values', () => expect(run('unique', [['1', true], ['1', false], ['2', true]]).toFixed()).toBe('2'));
  it('duration sums seconds and converts to the unit', () => {
    const seconds = run('duration', ['90', '30']);
    expect(seconds.toFixed()).toBe('120');
    expect(AGGREGATIONS.duration.toUnit(seconds, 'minutes').toFixed()).toBe('2');
    expect(AGGREGATIONS.duration.toUnit(seconds, 'ms').toFixed()).toBe('120000');
    expect(toWireRounded(AGGREGATIONS.duration.toUnit(new D(100), 'minutes'))).toBe('1.666666667');
    expect(AGGREGATIONS.duration.toBase(new D('1.5'), 'hours').toFixed()).toBe('5400');
  });
  it('distinct keys tell 1 from "1" and ignore missing properties', () => {
    expect(distinctKeyOf({ value: '1', properties: { u: 1 } }, 'u')).not.toBe(distinctKeyOf({ value: '1', properties: { u: '1' } }, 'u'));
    expect(distinctKeyOf({ value: '1', properties: {} }, 'u')).toBeNull();
    expect(distinctKeyOf({ value: '7', properties: {} }, null)).toBe('v:7');
  });
});
