import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { refuseDuplicateKeys } from './json-keys.js';

/** The fields a text's refusal names, or null when it is taken. */
function refused(text: string): string[] | null {
  try {
    refuseDuplicateKeys(text, JSON.parse(text));
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(422);
    return ((error as AppError).errors ?? []).map((e) => e.field);
  }
}

describe('refuseDuplicateKeys', () => {
  it('names a key written twice, at the top and deep inside', () => {
    expect(refused('{"user_id":"a","value":1,"user_id":"b"}')).toEqual(['user_id']);
    expect(refused('{"properties":{"model":"x","n":[1,{"k":1,"k":2}],"model":"y"}}')).toEqual(['properties.n[1].k', 'properties.model']);
    expect(refused('[{"a":1},{"a":1,"b":2,"a":3}]')).toEqual(['[1].a']);
  });
  it('compares keys as JSON reads them: "a" and "\\u0061" are one key', () => {
    expect(refused('{"a":1,"\\u0061":2}')).toEqual(['a']);
  });
  it('names a repeated __proto__ (an own key of the JSON, as JSON.parse reads it)', () => {
    expect(refused('{"__proto__":1,"__proto__":2}')).toEqual(['__proto__']);
  });
  it('takes the same key in sibling and nested objects, and colons, quotes and braces inside strings', () => {
    expect(refused('[{"user_id":"a"},{"user_id":"b"}]')).toBeNull();
    expect(refused('{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}')).toBeNull();
    expect(refused('{"a:b":"c:d","a\\":b":"\\"x\\":{\\"y\\":1,\\"y\\":2}","e":"[{,}]"}')).toBeNull();
    expect(refused('{"path":"C:\\\\","q":"\\\\","r":":"}')).toBeNull();
    expect(refused('"a:b"')).toBeNull();
    expect(refused('{}')).toBeNull();
  });
  it('walks 100,000 levels without recursion, and cuts a deep path', () => {
    const deep = `${'{"a":'.repeat(100_000)}{"k":1,"k":2}${'}'.repeat(100_000)}`;
    const fields = refused(deep)!;
    expect(fields).toHaveLength(1);
    expect(fields[0]!.endsWith('…')).toBe(true);
    expect(fields[0]!.length).toBeLessThan(200);
    expect(refused(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`)).toBeNull();
  });
  it('names at most 10 keys', () => {
    const text = `[${Array.from({ length: 50 }, () => '{"a":1,"a":2}').join(',')}]`;
    expect(refused(text)).toHaveLength(10);
  });
});
