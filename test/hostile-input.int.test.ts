import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBLEM_BASE } from '../server/errors.js';
import { useTestDatabase } from './harness/db.js';
import { ownerSql, tenantDigest } from './harness/digest.js';
import { createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/*
 * "Bad input": a catalogue of hostile requests against the real server. Every one must
 * get a 4xx problem (never a 5xx), name the offending field when it is a field error, and
 * leave the database exactly as it was. Event-level cases run twice: alone, and inside a
 * batch between two valid events of another customer (the "neighbour"), which must still
 * be recorded — and are the only rows the whole catalogue may add.
 */

const { url } = await useTestDatabase();
const sql = ownerSql(url);
let server: TestServer;
let apiKey: string;

const METER = 'api_calls';
const ARCHIVED_METER = 'old_calls';
/** The only customer whose events are valid: its rows are the ones the catalogue adds. */
const NEIGHBOUR = 'neighbour-ok';
/** Every hostile event is for this customer (unless its user_id is the hostile part). */
const HOSTILE_USER = 'hostile-user';
/** A customer created on purpose at the 256-character boundary of user_id. */
const LONG_USER = 'L'.repeat(256);
const NEIGHBOUR_EVENT = JSON.stringify({ event_name: METER, user_id: NEIGHBOUR, value: 1, properties: { from: 'hostile-catalogue' } });

let digestBefore: Record<string, string>;
/** Neighbour events the server answered 201 for, after the warm-up. */
const neighbourIds: string[] = [];

type Reply = { status: number; contentType: string | null; json: Record<string, any> | undefined; text: string };

async function send(
  method: string,
  path: string,
  options: { body?: string | Uint8Array | ReadableStream; contentType?: string | null; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const { body, contentType = 'application/json', headers = {} } = options;
  const response = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(contentType !== null && body !== undefined ? { 'content-type': contentType } : {}), ...headers },
    body: body as BodyInit | undefined,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
  const text = await response.text();
  let json: Record<string, any> | undefined;
  try {
    json = JSON.parse(text) as Record<string, any>;
  } catch {
    json = undefined;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), json, text };
}

type Expectation = { status: number; type: string; field?: string };

/** The body of an RFC 9457 problem, wherever it appears (response or batch item). */
function expectProblemBody(problem: Record<string, any> | undefined, { status, type, field }: Expectation) {
  expect(problem, 'a problem body').toBeDefined();
  expect(problem).toMatchObject({ type: PROBLEM_BASE + type, status });
  expect(typeof problem!.title === 'string' && problem!.title.length > 0, 'title').toBe(true);
  expect(typeof problem!.detail === 'string' && problem!.detail.length > 0, 'detail').toBe(true);
  if (status === 422) {
    expect(Array.isArray(problem!.errors) && problem!.errors.length > 0, 'a 422 lists its errors').toBe(true);
    for (const error of problem!.errors as Array<{ field: unknown; message: unknown }>) {
      expect(typeof error.field === 'string' && error.field.length > 0, `field of ${JSON.stringify(error)}`).toBe(true);
      expect(typeof error.message === 'string' && error.message.length > 0, `message of ${JSON.stringify(error)}`).toBe(true);
    }
  }
  if (field !== undefined) expect((problem!.errors as Array<{ field: string }>).map((e) => e.field)).toContain(field);
}

function expectProblem(reply: Reply, expected: Expectation) {
  expect(reply.status, reply.text.slice(0, 500)).toBe(expected.status);
  expect(reply.contentType).toBe('application/problem+json');
  expectProblemBody(reply.json, expected);
}

const track = (body: string | Uint8Array, options: { contentType?: string | null; headers?: Record<string, string> } = {}) =>
  send('POST', '/api/usage/track', { body, ...options });

/**
 * An event as raw JSON text: the valid hostile-user event with fields replaced by raw JSON
 * (so NaN, 1e400 and "\ud800" reach the server as written), or removed with undefined.
 */
function event(fields: Record<string, string | undefined>): string {
  const merged: Record<string, string | undefined> = { event_name: `"${METER}"`, user_id: `"${HOSTILE_USER}"`, value: '1', ...fields };
  return `{${Object.entries(merged)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(',')}}`;
}
const str = (s: string) => JSON.stringify(s);
const minutesFromNow = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

type EventCase = Expectation & {
  name: string;
  /** Raw JSON text of the event; a function for values that depend on the time of sending. */
  body: string | (() => string);
};

const invalid = (name: string, field: string, body: EventCase['body']): EventCase => ({ name, body, status: 422, type: 'validation-failed', field });
/** Not JSON at all (NaN, Infinity): the whole request is malformed, alone or in a batch. */
const malformed = (name: string, body: string): EventCase => ({ name, body, status: 400, type: 'malformed-json' });

const EVENT_CASES: EventCase[] = [
  // event_name
  invalid('event_name missing', 'event_name', event({ event_name: undefined })),
  invalid('event_name a number', 'event_name', event({ event_name: '42' })),
  invalid('event_name null', 'event_name', event({ event_name: 'null' })),
  invalid('event_name an array', 'event_name', event({ event_name: `[${str(METER)}]` })),
  invalid('event_name an object', 'event_name', event({ event_name: `{"name":${str(METER)}}` })),
  invalid('event_name a boolean', 'event_name', event({ event_name: 'true' })),
  invalid('event_name empty', 'event_name', event({ event_name: '""' })),
  invalid('event_name off the pattern (spaces, capitals)', 'event_name', event({ event_name: '"API Calls"' })),
  invalid('event_name with a trailing newline', 'event_name', event({ event_name: str(`${METER}\n`) })),
  invalid('event_name of 101 characters', 'event_name', event({ event_name: str('a'.repeat(101)) })),
  invalid('event_name with a NUL byte', 'event_name', event({ event_name: '"api\\u0000calls"' })),
  invalid('event_name a lone surrogate', 'event_name', event({ event_name: '"\\ud800"' })),
  { name: 'event_name with no meter', body: event({ event_name: '"no_such_meter"' }), status: 422, type: 'unknown-meter', field: 'event_name' },
  { name: 'event_name of an archived meter', body: event({ event_name: str(ARCHIVED_METER) }), status: 422, type: 'unknown-meter', field: 'event_name' },
  // user_id
  invalid('user_id missing', 'user_id', event({ user_id: undefined })),
  invalid('user_id a number', 'user_id', event({ user_id: '123' })),
  invalid('user_id null', 'user_id', event({ user_id: 'null' })),
  invalid('user_id empty', 'user_id', event({ user_id: '""' })),
  invalid('user_id of 257 characters', 'user_id', event({ user_id: str('u'.repeat(257)) })),
  invalid('user_id with a NUL byte', 'user_id', event({ user_id: '"hostile\\u0000user"' })),
  invalid('user_id a lone low surrogate', 'user_id', event({ user_id: '"hostile\\udfff"' })),
  // No URL path can carry them (…/customers/{user_id}): such a customer could never be opened.
  invalid('user_id ".."', 'user_id', event({ user_id: '".."' })),
  invalid('user_id "."', 'user_id', event({ user_id: '"."' })),
  invalid('user_id an object', 'user_id', event({ user_id: `{"id":${str(HOSTILE_USER)}}` })),
  invalid('user_id an array', 'user_id', event({ user_id: `[${str(HOSTILE_USER)}]` })),
  // value
  invalid('value a word', 'value', event({ value: '"abc"' })),
  invalid('value a boolean', 'value', event({ value: 'true' })),
  invalid('value null', 'value', event({ value: 'null' })),
  invalid('value an array', 'value', event({ value: '[1]' })),
  invalid('value an object', 'value', event({ value: '{"amount":1}' })),
  invalid('value negative', 'value', event({ value: '-1' })),
  invalid('value a negative string', 'value', event({ value: '"-1"' })),
  invalid('value a negative fraction', 'value', event({ value: '-0.5' })),
  malformed('value NaN (raw)', event({ value: 'NaN' })),
  malformed('value Infinity (raw)', event({ value: 'Infinity' })),
  malformed('value -Infinity (raw)', event({ value: '-Infinity' })),
  invalid('value 1e400 (parses to Infinity)', 'value', event({ value: '1e400' })),
  invalid('value -1e400', 'value', event({ value: '-1e400' })),
  invalid('value with 10 decimals, tiny', 'value', event({ value: '0.0000000001' })),
  invalid('value with 10 decimals', 'value', event({ value: '1.0000000001' })),
  invalid('value with 10 decimals as a string', 'value', event({ value: '"1.0000000001"' })),
  invalid('value 1e18', 'value', event({ value: '1e18' })),
  invalid('value 10^18 written out', 'value', event({ value: '1000000000000000000' })),
  invalid('value 10^18 as a string', 'value', event({ value: '"1000000000000000000"' })),
  invalid('value past 2^53', 'value', event({ value: '9007199254740993' })),
  invalid('value in exponent notation as a string', 'value', event({ value: '"1e3"' })),
  invalid('value an empty string', 'value', event({ value: '""' })),
  invalid('value hexadecimal', 'value', event({ value: '"0x10"' })),
  invalid('value in full-width digits', 'value', event({ value: '"\\uff11"' })),
  // properties
  invalid('properties an array', 'properties', event({ properties: '[1,2]' })),
  invalid('properties a string', 'properties', event({ properties: '"endpoint=/x"' })),
  invalid('properties null', 'properties', event({ properties: 'null' })),
  invalid('properties a number', 'properties', event({ properties: '42' })),
  invalid('properties over 8 KB', 'properties', event({ properties: `{"blob":${str('x'.repeat(8200))}}` })),
  invalid('properties with a NUL byte in a value', 'properties', event({ properties: '{"endpoint":"/a\\u0000b"}' })),
  invalid('properties with a NUL byte in a key', 'properties', event({ properties: '{"end\\u0000point":"/a"}' })),
  invalid('properties with a NUL byte deep inside', 'properties', event({ properties: '{"a":[{"b":"\\u0000"}]}' })),
  invalid('properties with an integer past 2^53 (read rounded: 1234567890123456789 and …788 would be one value)', 'properties', event({ properties: '{"order_id":1234567890123456789}' })),
  invalid('properties with an integer past 2^53 deep inside', 'properties', event({ properties: '{"a":[{"b":-9007199254740993}]}' })),
  invalid('properties with a lone surrogate in a value', 'properties', event({ properties: '{"endpoint":"\\ud800"}' })),
  invalid('properties with a lone surrogate in a key', 'properties', event({ properties: '{"\\udbff":1}' })),
  invalid('properties with __proto__', 'properties', event({ properties: '{"__proto__":{"isAdmin":true}}' })),
  invalid('properties with constructor', 'properties', event({ properties: '{"constructor":{"prototype":{"isAdmin":true}}}' })),
  invalid('properties with prototype', 'properties', event({ properties: '{"prototype":{"isAdmin":true}}' })),
  invalid('properties with __proto__ nested in objects', 'properties', event({ properties: '{"a":{"b":{"__proto__":{"isAdmin":true}}}}' })),
  invalid('properties with constructor nested in an array', 'properties', event({ properties: '{"list":[1,{"constructor":1}]}' })),
  invalid('properties nested 3,000 deep (under 8 KB)', 'properties', event({ properties: `{"a":${deepArray(3000)}}` })),
  // timestamp
  invalid('timestamp without an offset', 'timestamp', event({ timestamp: '"2026-01-01T00:00:00"' })),
  invalid('timestamp garbage', 'timestamp', event({ timestamp: '"yesterday"' })),
  invalid('timestamp a date only', 'timestamp', event({ timestamp: '"2026-01-01"' })),
  invalid('timestamp with a space separator', 'timestamp', event({ timestamp: '"2026-01-01 00:00:00Z"' })),
  invalid('timestamp an impossible date', 'timestamp', event({ timestamp: '"2026-02-30T00:00:00Z"' })),
  invalid('timestamp in epoch seconds', 'timestamp', event({ timestamp: '1767225600' })),
  invalid('timestamp null', 'timestamp', event({ timestamp: 'null' })),
  invalid('timestamp 10 minutes ahead', 'timestamp', () => event({ timestamp: str(minutesFromNow(10)) })),
  invalid('timestamp in year 9999', 'timestamp', event({ timestamp: '"9999-12-31T23:59:59Z"' })),
  {
    name: 'timestamp in a period closed beyond the grace',
    body: () => event({ timestamp: str(new Date(Date.now() - 70 * 86_400_000).toISOString()) }),
    status: 422,
    type: 'period-closed',
    field: 'timestamp',
  },
  // idempotency_key
  invalid('idempotency_key empty', 'idempotency_key', event({ idempotency_key: '""' })),
  invalid('idempotency_key of 256 characters', 'idempotency_key', event({ idempotency_key: str('k'.repeat(256)) })),
  invalid('idempotency_key a number', 'idempotency_key', event({ idempotency_key: '5' })),
  invalid('idempotency_key null', 'idempotency_key', event({ idempotency_key: 'null' })),
  invalid('idempotency_key with a NUL byte', 'idempotency_key', event({ idempotency_key: '"key\\u0000"' })),
  invalid('idempotency_key a lone surrogate', 'idempotency_key', event({ idempotency_key: '"key\\ud800"' })),
  // unknown fields and whole-object shapes
  invalid('an unknown field', 'colour', event({ colour: '"red"' })),
  invalid('a camelCase field', 'userId', event({ user_id: undefined, userId: str(HOSTILE_USER) })),
  invalid('a differently cased field', 'Event_Name', event({ Event_Name: str(METER) })),
  invalid('__proto__ as the whole event', '__proto__', `{"__proto__":${event({})}}`),
  invalid('__proto__ beside valid fields', '__proto__', event({ ['__proto__']: '{"isAdmin":true}' })),
  invalid('constructor beside valid fields', 'constructor', event({ constructor: '{"prototype":{"isAdmin":true}}' })),
  invalid('the event wrapped in an object', 'events', `{"events":[${event({})}]}`),
  invalid('a string instead of an event', '(body)', str('api_calls')),
  invalid('a number instead of an event', '(body)', '7'),
  invalid('null instead of an event', '(body)', 'null'),
  invalid('an object nested 100,000 deep', 'a', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`),
];

const bodyOf = (c: EventCase) => (typeof c.body === 'function' ? c.body() : c.body);

beforeAll(async () => {
  server = await startTestServer(url);
  ({ apiKey } = await createCreatorWithKey(server.rt));
  const meter = (eventName: string) =>
    send('POST', '/api/usage/meters', {
      body: JSON.stringify({ event_name: eventName, display_name: eventName, aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'free', limit_value: 100000 }] }),
    });
  expect((await meter(METER)).status).toBe(201);
  const archived = await meter(ARCHIVED_METER);
  expect((await send('DELETE', `/api/usage/meters/${archived.json!.id}`)).status).toBe(200);
  // The neighbour, the creator's settings and the neighbour's counter exist before the digest.
  expect((await track(NEIGHBOUR_EVENT)).status).toBe(201);
  digestBefore = await tenantDigest(sql, { userIds: [NEIGHBOUR] });
});
afterAll(async () => {
  await sql.end();
  await server.close();
});

describe('POST /api/usage/track: requests that are not a usable body', () => {
  it('malformed JSON → 400', async () => {
    expectProblem(await track(`{"event_name":"${METER}","user_id":`), { status: 400, type: 'malformed-json' });
  });
  it('JSON followed by garbage → 400', async () => {
    expectProblem(await track(`${event({})} trailing`), { status: 400, type: 'malformed-json' });
  });
  it('single-quoted pseudo-JSON → 400', async () => {
    expectProblem(await track(`{'event_name':'${METER}','user_id':'u'}`), { status: 400, type: 'malformed-json' });
  });
  it('two JSON documents back to back → 400', async () => {
    expectProblem(await track(`${event({})}${event({})}`), { status: 400, type: 'malformed-json' });
  });
  it('an empty body → 400', async () => {
    expectProblem(await track(''), { status: 400, type: 'malformed-json' });
  });
  it('a body of whitespace → 400', async () => {
    expectProblem(await track(' \n\t '), { status: 400, type: 'malformed-json' });
  });
  it('bytes that are not UTF-8 → 400, not a silently altered user_id', async () => {
    const bytes = Buffer.concat([Buffer.from(`{"event_name":"${METER}","user_id":"hostile-`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    expectProblem(await track(new Uint8Array(bytes)), { status: 400, type: 'malformed-json' });
  });
  it.each([
    ['text/plain', 'text/plain'],
    ['form-urlencoded', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['XML', 'application/xml'],
    ['a near miss (application/jsonx)', 'application/jsonx'],
  ])('content type %s → 415', async (_label, contentType) => {
    expectProblem(await track(event({}), { contentType }), { status: 415, type: 'unsupported-media-type' });
  });
  it.each([
    ['latin1', 'application/json; charset=latin1'],
    ['ISO-8859-1, quoted', 'application/json; charset="ISO-8859-1"'],
    ['UTF-16', 'application/json;charset=utf-16'],
  ])('a JSON body declared in charset %s → 415 naming the charset, not read as UTF-8', async (_label, contentType) => {
    const reply = await track(event({}), { contentType });
    expectProblem(reply, { status: 415, type: 'unsupported-media-type' });
    expect(reply.json!.detail).toMatch(/charset/);
  });
  it('no content type at all → 415', async () => {
    expectProblem(await track(new TextEncoder().encode(event({})), { contentType: null }), { status: 415, type: 'unsupported-media-type' });
  });
  it('an empty batch → 422', async () => {
    expectProblem(await track('[]'), { status: 422, type: 'validation-failed', field: '(body)' });
  });
  it('a batch of 1,001 events → 422, none recorded', async () => {
    expectProblem(await track(`[${Array.from({ length: 1001 }, () => NEIGHBOUR_EVENT).join(',')}]`), { status: 422, type: 'validation-failed', field: '(body)' });
  });
  it('a body over 1 MB (declared length) → 413', async () => {
    const body = event({ properties: `{"blob":${str('x'.repeat(1024 * 1024))}}` });
    expectProblem(await track(body), { status: 413, type: 'payload-too-large' });
  });
  it('a body over 1 MB sent chunked, without a length → 413', async () => {
    const chunk = new TextEncoder().encode(`[${Array.from({ length: 200 }, () => NEIGHBOUR_EVENT).join(',')},`);
    let sent = 0;
    const stream = Readable.toWeb(
      Readable.from(
        (function* () {
          while (sent < 2 * 1024 * 1024) {
            sent += chunk.length;
            yield chunk;
          }
          yield new TextEncoder().encode(`${NEIGHBOUR_EVENT}]`);
        })(),
      ),
    ) as ReadableStream;
    expectProblem(await send('POST', '/api/usage/track', { body: stream }), { status: 413, type: 'payload-too-large' });
  });
  it('an Idempotency-Key header that differs from the body’s idempotency_key → 422', async () => {
    const reply = await track(event({ idempotency_key: '"body-key"' }), { headers: { 'idempotency-key': 'header-key' } });
    expectProblem(reply, { status: 422, type: 'validation-failed', field: 'idempotency_key' });
  });
  it('an Idempotency-Key header of 256 characters → 422', async () => {
    expectProblem(await track(event({}), { headers: { 'idempotency-key': 'k'.repeat(256) } }), { status: 422, type: 'validation-failed', field: 'Idempotency-Key' });
  });
  it('an array nested 500,000 deep (a one-item batch) → 200 with the item refused', async () => {
    const reply = await track(deepArray(500_000));
    expect(reply.status).toBe(200);
    expect(reply.json!.results).toHaveLength(1);
    expect(reply.json!.results[0].status).toBe(422);
    expectProblemBody(reply.json!.results[0].error, { status: 422, type: 'validation-failed', field: '(body)' });
  });
});

describe('POST /api/usage/track: one hostile event, alone', () => {
  it.each(EVENT_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectProblem(await track(bodyOf(c)), c);
  });
});

describe('POST /api/usage/track: the same hostile event between two valid ones', () => {
  it.each(EVENT_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const reply = await track(`[${NEIGHBOUR_EVENT},${bodyOf(c)},${NEIGHBOUR_EVENT}]`);
    if (c.type === 'malformed-json') {
      // Not JSON: the batch as a whole is refused, the neighbours with it.
      expectProblem(reply, c);
      return;
    }
    expect(reply.status, reply.text.slice(0, 500)).toBe(200);
    expect(reply.contentType).toMatch(/^application\/json/);
    const results = reply.json!.results as Array<Record<string, any>>;
    expect(results.map((r) => [r.index, r.status])).toEqual([
      [0, 201],
      [1, c.status],
      [2, 201],
    ]);
    expectProblemBody(results[1]!.error, c);
    expect(results[1]!.id).toBeUndefined();
    for (const neighbour of [results[0]!, results[2]!]) {
      expect(neighbour.id).toMatch(/^[0-9a-f-]{36}$/);
      neighbourIds.push(neighbour.id as string);
    }
  });
});

describe('POST /api/usage/meters: invalid meter definitions', () => {
  const base = { event_name: 'hostile_meter', display_name: 'Hostile', aggregation_type: 'sum', unit_name: 'things' };
  const plan = { plan_name: 'pro', limit_value: 10, overage_price: '0.5', soft_limit_threshold: 0.8, hard_cap: false };
  const cases: Array<[string, unknown, string]> = [
    ['event_name with capitals and a space', { ...base, event_name: 'Hostile Meter' }, 'event_name'],
    ['event_name with a slash', { ...base, event_name: 'a/b' }, 'event_name'],
    ['event_name of 101 characters', { ...base, event_name: 'm'.repeat(101) }, 'event_name'],
    ['event_name empty', { ...base, event_name: '' }, 'event_name'],
    ['aggregation_type unknown', { ...base, aggregation_type: 'median' }, 'aggregation_type'],
    ['aggregation_type missing', { ...base, aggregation_type: undefined }, 'aggregation_type'],
    ['a duration meter in days', { ...base, aggregation_type: 'duration', unit_name: 'days' }, 'unit_name'],
    ['soft_limit_threshold 0', { ...base, plan_limits: [{ ...plan, soft_limit_threshold: 0 }] }, 'plan_limits[0].soft_limit_threshold'],
    ['soft_limit_threshold 1.5', { ...base, plan_limits: [{ ...plan, soft_limit_threshold: 1.5 }] }, 'plan_limits[0].soft_limit_threshold'],
    ['soft_limit_threshold negative', { ...base, plan_limits: [{ ...plan, soft_limit_threshold: -0.2 }] }, 'plan_limits[0].soft_limit_threshold'],
    ['limit_value negative', { ...base, plan_limits: [{ ...plan, limit_value: -5 }] }, 'plan_limits[0].limit_value'],
    ['limit_value in exponent notation', { ...base, plan_limits: [{ ...plan, limit_value: '1e3' }] }, 'plan_limits[0].limit_value'],
    ['overage_price negative', { ...base, plan_limits: [{ ...plan, overage_price: '-0.01' }] }, 'plan_limits[0].overage_price'],
    ['plan_name twice', { ...base, plan_limits: [plan, { ...plan, limit_value: 20 }] }, 'plan_limits[1].plan_name'],
    ['plan_name empty', { ...base, plan_limits: [{ ...plan, plan_name: '  ' }] }, 'plan_limits[0].plan_name'],
    ['unique_property on a count meter', { ...base, aggregation_type: 'count', unique_property: 'endpoint' }, 'unique_property'],
    ['hard_cap "yes"', { ...base, plan_limits: [{ ...plan, hard_cap: 'yes' }] }, 'plan_limits[0].hard_cap'],
    ['plan_limits an object', { ...base, plan_limits: { pro: plan } }, 'plan_limits'],
    ['an unknown plan-limit field', { ...base, plan_limits: [{ ...plan, discount: 5 }] }, 'plan_limits[0].discount'],
    ['billing_model unknown', { ...base, billing_model: 'prepaid' }, 'billing_model'],
    ['display_name missing', { ...base, display_name: undefined }, 'display_name'],
    ['display_name with a NUL byte', { ...base, display_name: 'Hos\u0000tile' }, 'display_name'],
    ['an unknown field', { ...base, colour: 'red' }, 'colour'],
  ];
  it.each(cases)('%s → 422', async (_name, body, field) => {
    expectProblem(await send('POST', '/api/usage/meters', { body: JSON.stringify(body) }), { status: 422, type: 'validation-failed', field });
  });
  it('limit_value 1e400 (raw) → 422', async () => {
    const body = `{"event_name":"hostile_meter","display_name":"H","aggregation_type":"sum","unit_name":"x","plan_limits":[{"plan_name":"p","limit_value":1e400}]}`;
    expectProblem(await send('POST', '/api/usage/meters', { body }), { status: 422, type: 'validation-failed', field: 'plan_limits[0].limit_value' });
  });
  it('__proto__ as a field → 422', async () => {
    const body = `{"__proto__":{"event_name":"hostile_meter"},"event_name":"hostile_meter","display_name":"H","aggregation_type":"sum","unit_name":"x"}`;
    expectProblem(await send('POST', '/api/usage/meters', { body }), { status: 422, type: 'validation-failed', field: '__proto__' });
  });
  it('an event_name that already has a meter → 409', async () => {
    expectProblem(await send('POST', '/api/usage/meters', { body: JSON.stringify({ ...base, event_name: METER }) }), { status: 409, type: 'meter-exists' });
  });
});

describe('PUT /api/usage/customers/{user_id}: invalid customers', () => {
  const cases: Array<[string, unknown, string]> = [
    ['email without an @', { email: 'not-an-email' }, 'email'],
    ['email with a NUL byte', { email: 'a\u0000@example.com' }, 'email'],
    ['email of 300 characters', { email: `${'a'.repeat(290)}@example.com` }, 'email'],
    ['billing_anchor without an offset', { billing_anchor: '2026-01-15T00:00:00' }, 'billing_anchor'],
    ['billing_anchor garbage', { billing_anchor: 'the 15th' }, 'billing_anchor'],
    ['billing_anchor a number', { billing_anchor: 15 }, 'billing_anchor'],
    ['stripe_customer_id not cus_…', { stripe_customer_id: 'cust_123' }, 'stripe_customer_id'],
    ['stripe_customer_id only the prefix', { stripe_customer_id: 'cus_' }, 'stripe_customer_id'],
    ['stripe_customer_id with a newline', { stripe_customer_id: 'cus_123\n' }, 'stripe_customer_id'],
    ['a subscription item not si_…', { stripe_subscription_items: { [METER]: 'sub_123' } }, `stripe_subscription_items.${METER}`],
    ['a subscription item for a malformed event name', { stripe_subscription_items: { 'Bad Name': 'si_123' } }, 'stripe_subscription_items.Bad Name'],
    ['stripe_subscription_items an array', { stripe_subscription_items: ['si_123'] }, 'stripe_subscription_items'],
    ['plan_name a number', { plan_name: 5 }, 'plan_name'],
    ['tenant_id empty', { tenant_id: '' }, 'tenant_id'],
    ['an unknown field', { plan: 'pro' }, 'plan'],
  ];
  it.each(cases)('%s → 422', async (_name, body, field) => {
    expectProblem(await send('PUT', '/api/usage/customers/hostile-customer', { body: JSON.stringify(body) }), { status: 422, type: 'validation-failed', field });
  });
  it('a subscription item keyed "__proto__" → 422, not silently dropped', async () => {
    const reply = await send('PUT', '/api/usage/customers/hostile-customer', { body: '{"stripe_subscription_items":{"__proto__":"si_123"}}' });
    expectProblem(reply, { status: 422, type: 'validation-failed', field: 'stripe_subscription_items' });
  });
  it('a user_id of 257 characters in the path → 422', async () => {
    expectProblem(await send('PUT', `/api/usage/customers/${'c'.repeat(257)}`, { body: '{}' }), { status: 422, type: 'validation-failed', field: 'user_id' });
  });
  it('a user_id of 256 characters in the path is not refused by the router (the boundary of the case above)', async () => {
    const reply = await send('PUT', `/api/usage/customers/${LONG_USER}`, { body: '{}' });
    expect(reply.status, reply.text).toBe(201);
    expect(reply.json!.user_id).toBe(LONG_USER);
  });
  it.each([
    ['a truncated escape', '/api/usage/customers/hostile%E0%A4%A'],
    ['an encoded lone surrogate', '/api/usage/customers/hostile%ED%A0%80'],
    ['an invalid escape', '/api/usage/customers/hostile%ZZ'],
  ])('%s in the path → 4xx problem', async (_name, path) => {
    const reply = await send('PUT', path, { body: '{}' });
    expect(reply.status, reply.text).toBeGreaterThanOrEqual(400);
    expect(reply.status, reply.text).toBeLessThan(500);
    expect(reply.contentType).toBe('application/problem+json');
  });
  it('a NUL byte in the path’s user_id → 422', async () => {
    expectProblem(await send('PUT', '/api/usage/customers/hostile%00customer', { body: '{}' }), { status: 422, type: 'validation-failed', field: 'user_id' });
  });
  it('an array body → 422', async () => {
    expectProblem(await send('PUT', '/api/usage/customers/hostile-customer', { body: '[]' }), { status: 422, type: 'validation-failed', field: '(body)' });
  });
});

describe('PUT /api/usage/settings: invalid settings', () => {
  const cases: Array<[string, unknown, string]> = [
    ['late_event_grace_hours -1', { late_event_grace_hours: -1 }, 'late_event_grace_hours'],
    ['late_event_grace_hours 1.5', { late_event_grace_hours: 1.5 }, 'late_event_grace_hours'],
    ['late_event_grace_hours 10000', { late_event_grace_hours: 10000 }, 'late_event_grace_hours'],
    ['late_event_grace_hours a string', { late_event_grace_hours: '24' }, 'late_event_grace_hours'],
    ['late_event_grace_hours null', { late_event_grace_hours: null }, 'late_event_grace_hours'],
    ['default_plan a number', { default_plan: 3 }, 'default_plan'],
    ['default_plan blank', { default_plan: '   ' }, 'default_plan'],
    ['an unknown field', { grace: 24 }, 'grace'],
  ];
  it.each(cases)('%s → 422', async (_name, body, field) => {
    expectProblem(await send('PUT', '/api/usage/settings', { body: JSON.stringify(body) }), { status: 422, type: 'validation-failed', field });
  });
  it('late_event_grace_hours 1e400 (raw) → 422', async () => {
    expectProblem(await send('PUT', '/api/usage/settings', { body: '{"late_event_grace_hours":1e400}' }), { status: 422, type: 'validation-failed', field: 'late_event_grace_hours' });
  });
});

describe('GET /api/usage/check: invalid queries', () => {
  const cases: Array<[string, string, string, string?]> = [
    ['user_id missing', `event_name=${METER}`, 'user_id'],
    ['event_name missing', 'user_id=hostile-user', 'event_name'],
    ['event_name off the pattern', 'user_id=hostile-user&event_name=API%20Calls', 'event_name'],
    ['value negative', `user_id=hostile-user&event_name=${METER}&value=-1`, 'value'],
    ['value a word', `user_id=hostile-user&event_name=${METER}&value=abc`, 'value'],
    ['value 1e400', `user_id=hostile-user&event_name=${METER}&value=1e400`, 'value'],
    ['value with 10 decimals', `user_id=hostile-user&event_name=${METER}&value=1.0000000001`, 'value'],
    ['value empty', `user_id=hostile-user&event_name=${METER}&value=`, 'value'],
    ['user_id of 257 characters', `user_id=${'u'.repeat(257)}&event_name=${METER}`, 'user_id'],
    ['user_id with a NUL byte', `user_id=hostile%00user&event_name=${METER}`, 'user_id'],
    ['user_id empty', `user_id=&event_name=${METER}`, 'user_id'],
    ['an unknown meter', 'user_id=hostile-user&event_name=no_such_meter', 'event_name', 'unknown-meter'],
  ];
  it.each(cases)('%s → 422', async (_name, query, field, type = 'validation-failed') => {
    expectProblem(await send('GET', `/api/usage/check?${query}`), { status: 422, type, field });
  });
});

describe('after the whole catalogue', () => {
  it('the database holds exactly the valid events sent on purpose, and nothing else changed', async () => {
    expect(await tenantDigest(sql, { userIds: [NEIGHBOUR, LONG_USER] })).toEqual(digestBefore);
    expect(neighbourIds).toHaveLength(2 * EVENT_CASES.filter((c) => c.type !== 'malformed-json').length);
    // The neighbour's rows: the warm-up event plus exactly the ones answered 201, counted once.
    const events = await sql<Array<{ event_id: string; value: string }>>`select event_id::text, value::text from usage_events where user_id = ${NEIGHBOUR}`;
    expect(events).toHaveLength(neighbourIds.length + 1);
    expect(new Set(events.map((e) => e.event_id))).toEqual(new Set([...neighbourIds, ...events.map((e) => e.event_id)]));
    for (const id of neighbourIds) expect(events.some((e) => e.event_id === id), id).toBe(true);
    const [counter] = await sql<Array<{ value: string; event_count: number }>>`
      select a.value::text, a.event_count::int from usage_aggregates a join customers c using (creator_id, customer_id)
      where c.user_id = ${NEIGHBOUR} and a.window = 'period'`;
    expect(counter).toEqual({ value: String(neighbourIds.length + 1), event_count: neighbourIds.length + 1 });
    expect((await sql`select 1 from customers where user_id like 'hostile%'`).length).toBe(0);
  });
});
