import { describe, expect, it, onTestFinished } from 'vitest';
import { parseEnv } from '../server/env.js';
import { createApiKey } from '../server/services/api-keys.js';
import { createSession } from '../server/services/sessions.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { startTestServer, useClockedServer } from './harness/server.js';

/**
 * The customers API and insights, API keys / browser tokens and the customer pages at their
 * edges (from a review, 2026-11-27: each of these failed on the code before its fix).
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-10-10T12:00:00.000Z'));

type Call = ReturnType<typeof api>;
const query = async (call: Call, procedure: string, input: unknown) => {
  const response = await call('GET', `/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`);
  return { status: response.status, data: response.json?.result?.data, error: response.json?.error, text: response.text };
};
/** A cursor as the server writes them (base64url JSON array), with hand-chosen parts. */
const cursorOf = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');
const fieldsOf = (error: { data?: { problem?: { errors?: Array<{ field: string }> } } } | undefined) => (error?.data?.problem?.errors ?? []).map((e) => e.field);

async function creatorWithCalls() {
  setNow(new Date('2026-10-10T12:00:00.000Z'));
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  const call = api(server().url, apiKey);
  const meter = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
  return { call, meter, creator, apiKey };
}

describe('hand-edited keyset cursors answer 422 naming `cursor`, never 500', () => {
  it('customers.events: a cursor whose timestamp Date.parse takes but Postgres refuses (or whose id only looks like a UUID) is a 422, not a 500', async () => {
    const { call } = await creatorWithCalls();
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
    // decodeCursor's checks (Date.parse, /^[0-9a-f-]{36}$/) let these through to `::timestamptz` / `::uuid`.
    for (const parts of [
      ['1', '00000000-0000-0000-0000-000000000000'], // Date.parse('1') is 2001-01-01 in V8; Postgres: invalid input syntax
      ['+275760-09-13T00:00:00Z', '00000000-0000-0000-0000-000000000000'], // a JS date Postgres cannot hold
      ['2026-10-10T00:00:00Z', '------------------------------------'], // 36 dashes pass the regex; not a uuid
    ]) {
      const page = await query(call, 'customers.events', { user_id: 'ann', cursor: cursorOf(parts) });
      // 422 naming `cursor`, as for other bad cursors (it reached Postgres and answered 500).
      expect(page.status, `${JSON.stringify(parts)} → ${page.text.slice(0, 160)}`).toBe(422);
      expect(fieldsOf(page.error)).toEqual(['cursor']);
    }
  });

  it('customers.top: a cursor whose sort key overflows numeric or whose user id holds NUL is a 422, not a 500', async () => {
    const { call, meter } = await creatorWithCalls();
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
    for (const parts of [
      ['usage', '1e999999', 'ann'], // passes /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i; Postgres: value overflows numeric format
      ['usage', '0', 'a\u0000b'], // Postgres text refuses NUL
    ]) {
      const page = await query(call, 'customers.top', { meter_id: meter.id, cursor: cursorOf(parts) });
      expect(page.status, `${JSON.stringify(parts)} → ${page.text.slice(0, 160)}`).toBe(422);
      expect(fieldsOf(page.error)).toEqual(['cursor']);
    }
  });

  it('the customer page with a garbage ?cursor= shows the newest events (“page link has expired”), not a 500 page', async () => {
    const dash = await startTestServer(url, { pages: true });
    onTestFinished(() => dash.close());
    const { creator, apiKey } = await createCreatorWithKey(dash.rt);
    const call = api(dash.url, apiKey);
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
    const { sessionToken } = await createSession(dash.rt, { creatorId: creator.id, ip: null, userAgent: null });
    const cursor = cursorOf(['1', '00000000-0000-0000-0000-000000000000']);
    const page = await fetch(`${dash.url}/creator/dashboard/usage/customers/ann?cursor=${cursor}`, { headers: { cookie: `staryer_session=${sessionToken}` }, redirect: 'manual' });
    // 200 with the loader's fallback (“This page link has expired”), not a 500 page.
    expect(page.status).toBe(200);
  });
});

describe('the customer page opens the customer whose id is in the URL', () => {
  it('a user_id containing a literal "%2F" opens that customer, not the one with "/" in its place', async () => {
    const dash = await startTestServer(url, { pages: true });
    onTestFinished(() => dash.close());
    const { creator, apiKey } = await createCreatorWithKey(dash.rt);
    const call = api(dash.url, apiKey);
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    // Two customers of one creator: "team%2Fq3" (the literal characters) and "team/q3".
    expect((await call('PUT', `/api/usage/customers/${encodeURIComponent('team%2Fq3')}`, { name: 'Literal percent' })).status).toBe(201);
    expect((await call('PUT', `/api/usage/customers/${encodeURIComponent('team/q3')}`, { name: 'Slash' })).status).toBe(201);
    // The API tells them apart.
    expect((await call('GET', `/api/usage/customers/${encodeURIComponent('team%2Fq3')}/usage`)).json.user_id).toBe('team%2Fq3');
    const { sessionToken } = await createSession(dash.rt, { creatorId: creator.id, ip: null, userAgent: null });
    // The dashboard's own link to "team%2Fq3" (customerPath = encodeURIComponent).
    const page = await fetch(`${dash.url}/creator/dashboard/usage/customers/${encodeURIComponent('team%2Fq3')}`, { headers: { cookie: `staryer_session=${sessionToken}` } });
    const html = await page.text();
    // The page of "team%2Fq3" (React Router turned "%2F" in the decoded param into "/": the page,
    // and its plan-change form, were "team/q3"'s).
    expect(/<title>(.*?)<\/title>/.exec(html)?.[1]).toBe('team%2Fq3 · Top users · Staryer Usage');
  });
});

describe('events explorer property filter', () => {
  it('property_value "1e400" does not match events whose property is null', async () => {
    const { call } = await creatorWithCalls();
    const tracked = await call('POST', '/api/usage/track', [
      { event_name: 'calls', user_id: 'ann', properties: { plan_code: null } },
      { event_name: 'calls', user_id: 'ann', properties: { plan_code: '1e400' } },
    ]);
    expect(tracked.json.results.map((r: { status: number }) => r.status)).toEqual([201, 201]);
    const found = await query(call, 'customers.events', { user_id: 'ann', property_key: 'plan_code', property_value: '1e400' });
    expect(found.status).toBe(200);
    // Only the event whose plan_code is "1e400" (JSON.parse('1e400') is Infinity, which JSON.stringify
    // makes null: `properties @> {"plan_code":null}` matched the other one too).
    expect(found.data.events.map((e: { properties: unknown }) => e.properties)).toEqual([{ plan_code: '1e400' }]);
  });
});

describe('operator-chosen (bootstrap) API keys', () => {
  it('a bootstrap key shaped like a JWT (three dot-separated parts) is refused at start, naming the variable', async () => {
    // Every a.b.c bearer is taken for a browser token (context.ts), never looked up as a key:
    // such a key could never authenticate, so start-up refuses it instead of storing it.
    const bootstrapKey = 'operatorchosenkey.bootstrapvalue.abcdef0123';
    expect(() => parseEnv({ NODE_ENV: 'test', STARYER_BOOTSTRAP_EMAIL: 'ops@example.com', STARYER_BOOTSTRAP_PASSWORD: 'a long passphrase', STARYER_BOOTSTRAP_API_KEY: bootstrapKey })).toThrow(
      /STARYER_BOOTSTRAP_API_KEY: .*not shaped like a browser token/,
    );
    // The same characters without the dots are a key like any other.
    const { creator } = await createCreatorWithKey(server().rt);
    const plain = bootstrapKey.replaceAll('.', '_');
    expect(parseEnv({ NODE_ENV: 'test', STARYER_BOOTSTRAP_EMAIL: 'ops@example.com', STARYER_BOOTSTRAP_PASSWORD: 'a long passphrase', STARYER_BOOTSTRAP_API_KEY: plain }).STARYER_BOOTSTRAP_API_KEY).toBe(plain);
    await createApiKey(server().rt, creator.id, { name: 'bootstrap', scopes: ['admin'], secret: plain });
    expect((await api(server().url, plain)('GET', '/api/usage/me')).status).toBe(200);
  });
});
