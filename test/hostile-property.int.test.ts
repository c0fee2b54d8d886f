import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBLEM_BASE } from '../server/errors.js';
import { ZTrackEvent } from '../server/schemas/usage.js';
import { useTestDatabase } from './harness/db.js';
import { ownerSql, tenantDigest } from './harness/digest.js';
import { createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { refuseDuplicateKeys } from '../server/http/json-keys.js';
import { findAlteredNumbers, restoreAlteredNumbers } from '../server/http/json-numbers.js';

/*
 * Thousands of generated hostile bodies against POST /api/usage/track. Whatever comes in,
 * the server answers a 4xx problem — or 201/200 for what ZTrackEvent accepts — never a
 * 5xx, and only accepted events leave rows behind.
 */

const { url } = await useTestDatabase();
const sql = ownerSql(url);
let server: TestServer;
let apiKey: string;

const METER = 'api_calls';
const WARMUP_USER = 'prop-warmup';
/** Every event the server answered 201 for (alone or in a batch): id → user_id. */
const accepted = new Map<string, string>();
let digestBefore: Record<string, string>;

beforeAll(async () => {
  server = await startTestServer(url);
  ({ apiKey } = await createCreatorWithKey(server.rt));
  const meter = await post(JSON.stringify({ event_name: METER, display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls' }), 'application/json', '/api/usage/meters');
  expect(meter.status).toBe(201);
  // Creates the creator's settings row, so the digest starts from a tracked-on state.
  const warmup = await post(JSON.stringify({ event_name: METER, user_id: WARMUP_USER }));
  expect(warmup.status).toBe(201);
  digestBefore = await tenantDigest(sql, { userIds: [WARMUP_USER] });
  accepted.set(warmup.json!.id as string, WARMUP_USER);
});
afterAll(async () => {
  await sql.end();
  await server.close();
});

type Reply = { status: number; contentType: string | null; json: Record<string, any> | undefined; text: string };

async function post(body: string | Uint8Array, contentType: string | null = 'application/json', path = '/api/usage/track'): Promise<Reply> {
  const response = await fetch(server.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, ...(contentType === null ? {} : { 'content-type': contentType }) },
    body: body as BodyInit,
  });
  const text = await response.text();
  let json: Record<string, any> | undefined;
  try {
    json = JSON.parse(text) as Record<string, any>;
  } catch {
    json = undefined;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), json, text };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const isJsonType = (contentType: string | null) => {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
};

/**
 * What the server sees once it has parsed the body; `undefined` when it is not a JSON document.
 * `refusedWhole`: a number literal a double would alter sits where it cannot be kept (inside
 * `properties`: `1e400` would be stored as null), or an object names a key twice: either refuses
 * the whole request (ADR 0009, "a JSON number counts for the digits written"; server/http/json-keys.ts).
 */
function parsedAsServer(body: string | Uint8Array): { value: unknown; refusedWhole: boolean } | undefined {
  let text: string;
  let value: unknown;
  try {
    text = typeof body === 'string' ? UTF8.decode(new TextEncoder().encode(body)) : UTF8.decode(body);
    value = JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
  try {
    refuseDuplicateKeys(text, value);
  } catch {
    return { value, refusedWhole: true };
  }
  const altered = findAlteredNumbers(text);
  if (altered.length === 0) return { value, refusedWhole: false };
  try {
    restoreAlteredNumbers(text, altered);
    return { value, refusedWhole: false };
  } catch {
    return { value, refusedWhole: true };
  }
}

function expectProblem(problem: Record<string, any> | undefined, status: number, context: string) {
  expect(problem, context).toBeDefined();
  expect(typeof problem!.type === 'string' && problem!.type.startsWith(PROBLEM_BASE), context).toBe(true);
  expect(typeof problem!.title === 'string' && problem!.title.length > 0, context).toBe(true);
  expect(problem!.status, context).toBe(status);
  expect(typeof problem!.detail === 'string' && problem!.detail.length > 0, context).toBe(true);
  if (status === 422) {
    expect(Array.isArray(problem!.errors) && problem!.errors.length > 0, context).toBe(true);
    for (const error of problem!.errors as Array<{ field: unknown }>) expect(typeof error.field === 'string' && error.field.length > 0, context).toBe(true);
  }
}

const isValidEvent = (value: unknown) => ZTrackEvent.safeParse(value).success;

/**
 * The property every answer must have. `mustAccept`: items that are valid, for the meter,
 * without timestamp or idempotency key — nothing may refuse those.
 */
function judge(reply: Reply, body: string | Uint8Array, contentType: string | null, mustAccept: (item: unknown) => boolean = () => false) {
  const context = `${reply.status} ${reply.text.slice(0, 300)} ← ${typeof body === 'string' ? body.slice(0, 300) : `${body.length} bytes`}`;
  expect(reply.status, context).toBeLessThan(500);
  const seen = isJsonType(contentType) ? parsedAsServer(body) : undefined;
  if (reply.status === 201) {
    expect(seen !== undefined && !Array.isArray(seen.value) && isValidEvent(seen.value), context).toBe(true);
    expect(reply.json!.user_id, context).toBe((seen!.value as { user_id: string }).user_id);
    accepted.set(reply.json!.id as string, reply.json!.user_id as string);
    return;
  }
  if (reply.status === 200) {
    expect(seen !== undefined && Array.isArray(seen.value), context).toBe(true);
    const items = seen!.value as unknown[];
    const results = reply.json!.results as Array<Record<string, any>>;
    expect(results, context).toHaveLength(items.length);
    results.forEach((result, index) => {
      expect(result.index, context).toBe(index);
      if (result.status === 201) {
        expect(isValidEvent(items[index]), `item ${index}: ${context}`).toBe(true);
        accepted.set(result.id as string, (items[index] as { user_id: string }).user_id);
      } else {
        expect(result.status, context).toBeGreaterThanOrEqual(400);
        expect(result.status, context).toBeLessThan(500);
        expect(mustAccept(items[index]), `item ${index} refused: ${context}`).toBe(false);
        expectProblem(result.error as Record<string, any>, result.status as number, `item ${index}: ${context}`);
      }
    });
    return;
  }
  expect(reply.status, context).toBeGreaterThanOrEqual(400);
  expect(reply.contentType, context).toBe('application/problem+json');
  expectProblem(reply.json, reply.status, context);
  if (seen && !seen.refusedWhole && !Array.isArray(seen.value)) expect(mustAccept(seen.value), `refused: ${context}`).toBe(false);
}

// ---- generators ----------------------------------------------------------------------

/** A JSON text that is not stringified by JSON.stringify: deep nesting past its stack. */
class Raw {
  constructor(readonly text: string) {}
}
const nested = (depth: number, asArray: boolean, inner: string) =>
  asArray ? `${'['.repeat(depth)}${inner}${']'.repeat(depth)}` : `${'{"k":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;

/** Serialises an event whose top-level values may be Raw. */
function serialise(event: Record<string, unknown>): string {
  return `{${Object.keys(event)
    .map((key) => {
      const value = event[key];
      return `${JSON.stringify(key)}:${value instanceof Raw ? value.text : (JSON.stringify(value) ?? 'null')}`;
    })
    .join(',')}}`;
}

const FIELDS = ['event_name', 'user_id', 'value', 'properties', 'timestamp', 'idempotency_key'] as const;
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', '', 'userId', 'Event_Name', ' user_id', 'user_id\u0000'];
const HOSTILE_STRINGS = ['', ' ', '\u0000', '\ud800', '\udfff', 'a'.repeat(257), 'x'.repeat(9000), '1e400', 'NaN', '-1', '1.0000000001', '1000000000000000000', '0x10', METER.toUpperCase()];

const randomValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, -1, 1e18, 1e17, 0.1, 1e-9, 1e-10, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ min: new Date(Date.now() - 40 * 86_400_000), max: new Date(Date.now() + 10 * 60_000), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(...HOSTILE_KEYS)), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

const validEvent = fc.record(
  {
    event_name: fc.constant(METER),
    user_id: fc.stringMatching(/^[a-z0-9]{1,6}$/).map((s) => `prop-${s}`),
    value: fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom('0.5', '12.125', '0', ' 7 ')),
    properties: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['event_name', 'user_id'] },
);

type Mutation =
  | { kind: 'replace'; field: string; value: unknown }
  | { kind: 'remove'; field: string }
  | { kind: 'add'; key: string; value: unknown }
  | { kind: 'nest'; field: string; depth: number; asArray: boolean }
  | { kind: 'deep-properties'; depth: number; asArray: boolean };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), field: fc.constantFrom(...FIELDS), value: randomValue }),
  fc.record({ kind: fc.constant('remove' as const), field: fc.constantFrom(...FIELDS) }),
  fc.record({ kind: fc.constant('add' as const), key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...HOSTILE_KEYS, ...FIELDS)), value: randomValue }),
  fc.record({ kind: fc.constant('nest' as const), field: fc.constantFrom(...FIELDS), depth: fc.integer({ min: 1, max: 5000 }), asArray: fc.boolean() }),
  // Around the nesting limit of properties (32), and far past it.
  fc.record({ kind: fc.constant('deep-properties' as const), depth: fc.oneof(fc.integer({ min: 25, max: 40 }), fc.integer({ min: 40, max: 3500 })), asArray: fc.boolean() }),
);

function mutate(base: Record<string, unknown>, mutations: Mutation[]): Record<string, unknown> {
  const event: Record<string, unknown> = { ...base };
  // defineProperty, not assignment: a key "__proto__" must be an own key of the JSON, not a prototype.
  const put = (key: string, value: unknown) => Object.defineProperty(event, key, { value, enumerable: true, writable: true, configurable: true });
  for (const m of mutations) {
    if (m.kind === 'replace') put(m.field, m.value);
    else if (m.kind === 'remove') delete event[m.field];
    else if (m.kind === 'add') put(m.key, m.value);
    else if (m.kind === 'nest') {
      const current = event[m.field];
      put(m.field, new Raw(nested(m.depth, m.asArray, current instanceof Raw ? current.text : (JSON.stringify(current) ?? '1'))));
    } else put('properties', new Raw(`{"deep":${nested(m.depth, m.asArray, '1')}}`));
  }
  return event;
}

const mutatedEvent = fc.tuple(validEvent, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([base, ms]) => serialise(mutate(base, ms)));

/** Valid, for the meter, with nothing that depends on time or earlier requests: must be 201. */
function mustAccept(item: unknown): boolean {
  if (!isValidEvent(item)) return false;
  const e = item as Record<string, unknown>;
  return e.event_name === METER && e.timestamp === undefined && e.idempotency_key === undefined;
}

/** Character-level damage to a valid event's JSON text: deletions, insertions, truncation. */
const damagedJson = fc
  .tuple(
    validEvent.map((e) => JSON.stringify(e)),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 4 }), fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('"', '{', '}', ',', ':', '\\', '\\u', '\\ud800', 'NaN', '1e400', '\u0000'))), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([text, edits]) =>
    edits.reduce((t, [at, remove, insert]) => {
      const i = t.length === 0 ? 0 : at % (t.length + 1);
      return t.slice(0, i) + insert + t.slice(i + remove);
    }, text),
  );

const printableAscii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/vnd.api+json',
    'application/problem+json',
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonx',
    'json',
    '',
    '+json',
    ';application/json',
  ),
  printableAscii,
);

// ---- properties ------------------------------------------------------------------------

describe('POST /api/usage/track under generated hostile bodies', () => {
  test.prop([fc.jsonValue()], { numRuns: 400 })('arbitrary JSON values', async (value) => {
    const body = JSON.stringify(value);
    judge(await post(body), body, 'application/json', mustAccept);
  });

  test.prop([fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withNullPrototype: true, withObjectString: true, withSparseArray: true })], { numRuns: 300 })(
    'arbitrary JavaScript values, serialised when they can be',
    async (value) => {
      let body: string | undefined;
      try {
        body = JSON.stringify(value);
      } catch {
        body = undefined;
      }
      fc.pre(body !== undefined);
      judge(await post(body), body, 'application/json', mustAccept);
    },
  );

  test.prop([mutatedEvent], { numRuns: 600 })('valid events with fields replaced, removed, added and nested', async (body) => {
    judge(await post(body), body, 'application/json', mustAccept);
  });

  test.prop([fc.array(fc.oneof(mutatedEvent, validEvent.map((e) => JSON.stringify(e)), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v))), { minLength: 1, maxLength: 20 })], {
    numRuns: 200,
  })('batches mixing valid, mutated and arbitrary items', async (items) => {
    const body = `[${items.join(',')}]`;
    judge(await post(body), body, 'application/json', mustAccept);
  });

  test.prop([fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json(), damagedJson, damagedJson)], { numRuns: 400 })('random and damaged text as the body', async (body) => {
    judge(await post(body), body, 'application/json', mustAccept);
  });

  test.prop([fc.uint8Array({ maxLength: 200 })], { numRuns: 150 })('random bytes as the body', async (bytes) => {
    judge(await post(bytes), bytes, 'application/json', mustAccept);
  });

  test.prop([validEvent, fc.nat(), fc.jsonValue({ maxDepth: 1 }), fc.boolean()], { numRuns: 100 })(
    'a valid event (alone or in a batch) with one of its keys written again is refused whole, naming the key',
    async (event, pick, again, inBatch) => {
      const keys = Object.keys(event);
      const key = keys[pick % keys.length]!;
      const text = `${JSON.stringify(event).slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(again)}}`;
      const body = inBatch ? `[${JSON.stringify({ ...event, user_id: 'prop-neighbour' })},${text}]` : text;
      const reply = await post(body);
      judge(reply, body, 'application/json', mustAccept);
      expect(reply.status, `${reply.text} ← ${body}`).toBe(422);
      expect((reply.json!.errors as Array<{ field: string }>).map((e) => e.field)).toEqual([inBatch ? `[1].${key}` : key]);
    },
  );

  test.prop([contentType, fc.oneof(validEvent.map((e) => JSON.stringify(e)), mutatedEvent, fc.string())], { numRuns: 300 })(
    'random content types',
    async (type, body) => {
      const reply = await post(body, type);
      judge(reply, body, type, (item) => isJsonType(type) && mustAccept(item));
      if (!isJsonType(type)) expect(reply.status, `${type}: ${reply.text}`).toBe(415);
    },
  );
});

describe('after every generated request', () => {
  it('the database holds the accepted events, each once, and nothing else changed', async () => {
    const userIds = [...new Set(accepted.values())];
    const eventIds = [...accepted.keys()];
    expect(await tenantDigest(sql, { userIds, eventIds })).toEqual(digestBefore);
    const [events] = await sql<Array<{ n: number; distinct_ids: number }>>`
      select count(*)::int as n, count(distinct event_id)::int as distinct_ids from usage_events where user_id = any(${userIds})`;
    expect(events).toEqual({ n: accepted.size, distinct_ids: accepted.size });
    const [known] = await sql<Array<{ n: number }>>`select count(*)::int as n from usage_events where event_id::text = any(${eventIds})`;
    expect(known!.n).toBe(accepted.size);
    const [counted] = await sql<Array<{ n: number }>>`
      select coalesce(sum(a.event_count), 0)::int as n from usage_aggregates a join customers c using (creator_id, customer_id)
      where c.user_id = any(${userIds}) and a.window = 'period'`;
    expect(counted!.n).toBe(accepted.size);
    // Every customer the generated requests left behind has at least one accepted event.
    const customers = await sql<Array<{ user_id: string }>>`select user_id from customers`;
    expect(customers.map((c) => c.user_id).sort()).toEqual(userIds.sort());
  });
});
