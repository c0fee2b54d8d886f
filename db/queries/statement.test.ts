import { describe, expect, it } from 'vitest';
import { fragment, statement } from './usage.js';

describe('statement: fixed SQL text per call site, values as parameters', () => {
  const lookUp = (creatorId: string, key: string, columns = 'a, b') => statement`select ${fragment(columns)} from t where creator_id = ${creatorId} and key = ${key}`;

  it('numbers the values $1, $2… in order and inlines fragments', () => {
    expect(lookUp('c1', 'k1')).toEqual({ text: 'select a, b from t where creator_id = $1 and key = $2', params: ['c1', 'k1'] });
  });

  it('keeps the text of a call site and takes each call’s values', () => {
    const first = lookUp('c1', 'k1');
    const second = lookUp('c2', 'k2');
    expect(second.text).toBe(first.text);
    expect(second.params).toEqual(['c2', 'k2']);
    expect(statement`select ${1}`.text).toBe('select $1');
  });

  it('refuses a fragment that changed at the same call site (its text would be stale)', () => {
    lookUp('c1', 'k1');
    expect(() => lookUp('c1', 'k1', 'a, b, c')).toThrow(/fragment of this statement changed/);
  });
});
