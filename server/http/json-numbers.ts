import { randomUUID } from 'node:crypto';
import { validationError } from '../errors.js';
import { JsonNumberText, numberParts, sameNumber } from '../schemas/decimal.js';
import { zodFieldErrors } from './validation.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
/** Any decimal of at most 15 significant digits reads back exactly from a double (DBL_DIG). */
const ALWAYS_EXACT_DIGITS = 15;

/** Whether JSON.parse keeps this number literal's exact value (what the double prints as is what was written). */
const keepsValue = (literal: string) => sameNumber(numberParts(literal), numberParts(String(Number(literal))));

/**
 * The number literals (outside strings) of a valid JSON text that JSON.parse would read as
 * another value, as [start, end) offsets. One pass: strings are skipped with indexOf, and
 * only a literal of more than 15 digits or with an exponent is looked at closely, so the
 * common body (small numbers) costs a scan and no allocation.
 */
export function findAlteredNumbers(text: string): Array<[number, number]> {
  const altered: Array<[number, number]> = [];
  const length = text.length;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      i = end === -1 ? length : end + 1;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      const start = i;
      let digits = 0;
      let exponent = false;
      for (; i < length; i++) {
        const d = text.charCodeAt(i);
        if (d >= ZERO && d <= NINE) digits++;
        else if (d === LOWER_E || d === UPPER_E) exponent = true;
        else if (d !== DOT && d !== MINUS && d !== PLUS) break;
      }
      if ((exponent || digits > ALWAYS_EXACT_DIGITS) && !keepsValue(text.slice(start, i))) altered.push([start, i]);
    } else i++;
  }
  return altered;
}

/** Whether the quote at `at` is escaped: an odd number of backslashes before it. */
export function isEscaped(text: string, at: number): boolean {
  let k = at - 1;
  while (k >= 0 && text.charCodeAt(k) === BACKSLASH) k--;
  return (at - 1 - k) % 2 === 1;
}

/** Where a value sits: the body, an event of a batch, an event's `properties`, inside them, anywhere else. */
const enum Zone {
  /** A tRPC batch's body: one call's input per member. */
  Inputs,
  Body,
  BatchEvent,
  Properties,
  InProperties,
  Other,
}

type Frame = { value: unknown; holder: object | null; key: string | number; parent: Frame | null; zone: Zone };

/**
 * `properties` of an event (alone or in a batch) is free-form JSON, stored as sent. Known
 * while walking down, so no path is built per literal: a body nested 100,000 deep with many
 * literals would otherwise cost depth × literals.
 */
function zoneOf(parent: Frame, key: string | number): Zone {
  if (parent.zone === Zone.Inputs) return Zone.Body;
  if (parent.zone === Zone.Properties || parent.zone === Zone.InProperties) return Zone.InProperties;
  if (parent.zone === Zone.Body && Array.isArray(parent.value)) return Zone.BatchEvent;
  if ((parent.zone === Zone.Body || parent.zone === Zone.BatchEvent) && key === 'properties') return Zone.Properties;
  return Zone.Other;
}

/** A value's path, cut after MAX_PATH steps (properties nest at most 32 deep anyway). */
function pathOf(frame: Frame): Array<string | number> {
  let depth = 0;
  for (let f: Frame | null = frame; f?.holder; f = f.parent) depth++;
  const path: Array<string | number> = [];
  let at = depth;
  for (let f: Frame | null = frame; f?.holder; f = f.parent) if (--at < MAX_PATH) path[at] = f.key;
  return depth > MAX_PATH ? [...path, '…'] : path;
}

/** Fields named in one refusal, and their depth: enough to act on, and a bound on the answer to a hostile body. */
const MAX_NAMED = 10;
const MAX_PATH = 40;

/**
 * `value` (parsed from `text`) with the altered literals put back as the client wrote them.
 * JSON.parse cannot say where a literal landed, so the text is parsed again with each one
 * replaced by a string no client can guess, and the tree is walked for those strings.
 *
 * Where a decimal is expected, a literal becomes a `JsonNumberText`: ZDecimal reads its
 * digits (so `12345678.123456789` is kept exactly) and every other field refuses it as not
 * a number. Inside `properties`, stored as JSON, a number must stay a number: an integer
 * past 2^53 is left as read, for the rule on properties to refuse it (with the event
 * alone, in a batch), and any other such literal refuses the request, naming it.
 * `inputs: 'members'`: a tRPC batch's body, each member one call's input (a named field's
 * path starts with its call's index).
 */
export function restoreAlteredNumbers(text: string, altered: Array<[number, number]>, options: { inputs: 'root' | 'members' } = { inputs: 'root' }): unknown {
  const marker = `${randomUUID()}#`;
  let rewritten = '';
  let from = 0;
  altered.forEach(([start, end], index) => {
    rewritten += `${text.slice(from, start)}"${marker}${index}"`;
    from = end;
  });
  rewritten += text.slice(from);
  const root = JSON.parse(rewritten) as unknown;
  const problems: Array<{ at: number; frame: Frame; literal: string }> = [];
  let result = root;
  const stack: Frame[] = [{ value: root, holder: null, key: '', parent: null, zone: options.inputs === 'members' ? Zone.Inputs : Zone.Body }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { value } = frame;
    if (typeof value === 'string') {
      if (!value.startsWith(marker)) continue;
      const at = Number(value.slice(marker.length));
      const [start, end] = altered[at]!;
      const literal = text.slice(start, end);
      let replacement: unknown = new JsonNumberText(literal);
      if (frame.zone === Zone.InProperties) {
        const read = Number(literal);
        if (Number.isInteger(read) && !Number.isSafeInteger(read) && /^-?\d+$/.test(literal)) replacement = read;
        else {
          problems.push({ at, frame, literal });
          continue;
        }
      }
      if (frame.holder === null) result = replacement;
      else if (Array.isArray(frame.holder)) frame.holder[frame.key as number] = replacement;
      // defineProperty, not assignment: a key "__proto__" is an own key of the JSON, not the prototype.
      else Object.defineProperty(frame.holder, frame.key, { value: replacement, enumerable: true, writable: true, configurable: true });
    } else if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) stack.push({ value: value[index], holder: value, key: index, parent: frame, zone: zoneOf(frame, index) });
    } else if (value !== null && typeof value === 'object') {
      for (const key of Object.keys(value)) stack.push({ value: (value as Record<string, unknown>)[key], holder: value, key, parent: frame, zone: zoneOf(frame, key) });
    }
  }
  if (problems.length > 0) {
    const named = problems.sort((a, b) => a.at - b.at).slice(0, MAX_NAMED);
    const shown = (literal: string) => (literal.length > 40 ? `${literal.slice(0, 40)}…` : literal);
    throw validationError(
      zodFieldErrors(named.map(({ frame, literal }) => ({ path: pathOf(frame), message: `holds the number ${shown(literal)}, which cannot be kept exactly as a JSON number: send it as a string` }))),
    );
  }
  return result;
}
