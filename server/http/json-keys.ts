import { validationError } from '../errors.js';
import { isEscaped } from './json-numbers.js';
import { zodFieldErrors } from './validation.js';

const QUOTE = 0x22;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** Keys named in one refusal, and their depth: enough to act on, and a bound on the answer to a hostile body. */
const MAX_NAMED = 10;
const MAX_PATH = 40;

/**
 * Refuses a JSON text that names a key twice in one object (`{"user_id":"a","user_id":"b"}`)
 * with 422 naming each such key. JSON.parse keeps the last value without a word, while
 * another reader of the same bytes (a proxy, a log pipeline, the creator's own code) may keep
 * the first: which customer was meant is ambiguous, so nothing is recorded (RFC 8259 §4 says
 * names SHOULD be unique; I-JSON, RFC 7493 §2.3, MUST). `value` is `JSON.parse(text)`.
 *
 * Cheap when there is none, as almost always: the keys JSON.parse kept are counted and
 * compared with the key separators (colons outside strings) of the text; only when they
 * differ is the text walked again to name the repeated keys (a tRPC batch's body names them
 * from their call's index, `[0].user_id`).
 */
export function refuseDuplicateKeys(text: string, value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  if (keysKept(value) === colonsOutsideStrings(text)) return;
  const repeated = repeatedKeyPaths(text);
  if (repeated.length === 0) return;
  throw validationError(zodFieldErrors(repeated.map((path) => ({ path, message: 'appears twice in the same object: send each key once (which value was meant is ambiguous)' }))));
}

/** Own keys of every object in a parsed JSON value (iterative: bodies may nest 100,000 deep). */
function keysKept(value: object): number {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v) if (item !== null && typeof item === 'object') stack.push(item);
      continue;
    }
    for (const key in v) {
      count++;
      const item = (v as Record<string, unknown>)[key];
      if (item !== null && typeof item === 'object') stack.push(item);
    }
  }
  return count;
}

/** The end (index of the closing quote) of the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
  return end === -1 ? text.length : end;
}

/** Colons outside strings: in valid JSON, one after each key written. */
function colonsOutsideStrings(text: string): number {
  let count = 0;
  let from = 0;
  let colon = text.indexOf(':');
  while (colon !== -1) {
    const quote = text.indexOf('"', from);
    if (quote === -1 || colon < quote) {
      count++;
      from = colon + 1;
      colon = text.indexOf(':', from);
      continue;
    }
    from = stringEnd(text, quote) + 1;
    if (colon < from) colon = text.indexOf(':', from);
  }
  return count;
}

type Frame = { object: true; keys: Set<string>; key: string; expectKey: boolean } | { object: false; index: number };

/** Paths of keys written twice in one object, in the text's order (at most MAX_NAMED). Walks a valid JSON text. */
function repeatedKeyPaths(text: string): Array<Array<string | number>> {
  const found: Array<Array<string | number>> = [];
  const stack: Frame[] = [];
  for (let i = 0; i < text.length && found.length < MAX_NAMED; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (top?.object && top.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) found.push(stack.length > MAX_PATH ? pathOf(stack) : [...pathOf(stack.slice(0, -1)), key]);
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
    } else if (c === OPEN_OBJECT) stack.push({ object: true, keys: new Set(), key: '', expectKey: true });
    else if (c === OPEN_ARRAY) stack.push({ object: false, index: 0 });
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) stack.pop();
    else if (c === COMMA && top) {
      if (top.object) top.expectKey = true;
      else top.index++;
    } else if (c === COLON && top?.object) top.expectKey = false;
  }
  return found;
}

function pathOf(frames: Frame[]): Array<string | number> {
  const path = frames.slice(0, MAX_PATH).map((f) => (f.object ? f.key : f.index));
  return frames.length > MAX_PATH ? [...path, '…'] : path;
}
