import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/*
 * tRPC inputs at their edges: bounded ranges, exact numbers in queries, strict page sizes and fields, events per request.
 */

const { url } = await useTestDatabase();
let server: TestServer;
let call: ReturnType<typeof api>;
let meterId: string;
beforeAll(async () => {
  server = await startTestServer(url);
  call = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
  meterId = (
    await createMeter(call, {
      event_name: 'storage',
      display_name: 'Storage',
      unit_name: 'GB',
      aggregation_type: 'sum',
      plan_limits: [{ plan_name: 'capped', limit_value: '12345678.123456789', hard_cap: true }],
    })
  ).id;
  const put = await call('PUT', '/api/usage/customers/capped-user', { plan_name: 'capped' });
  expect([200, 201]).toContain(put.status);
});
afterAll(() => server.close());

/** A tRPC query with its ?input= exactly as given (raw JSON text, the way any client's JSON encoder writes numbers). */
const query = (procedure: string, rawInput: string) => call('GET', `/api/trpc/${procedure}?input=${encodeURIComponent(rawInput)}`);

const fieldsOf = (reply: { json: Record<string, any> }) => ((reply.json?.error?.data?.problem?.errors ?? []) as Array<{ field: string }>).map((e) => e.field);

describe('tRPC input: hostile and edge values', () => {
  it('insights.trends refuses an enormous range at once, without first building one Date per bucket of it', async () => {
    // Hour buckets from 1970 to 2500: 4.6 million of them. The answer is a 422 either way; the
    // question is how long the (single-threaded) server is busy producing it.
    const input = JSON.stringify({ meter_id: meterId, grain: 'hour', from: '1970-01-01T00:00:00Z', to: '2500-01-01T00:00:00Z' });
    // The server runs in this process: a timer due 100 ms in fires late by as long as the event loop is held.
    const started = performance.now();
    const timerLate = new Promise<number>((resolve) => setTimeout(() => resolve(performance.now() - started - 100), 100));
    const refused = await query('insights.trends', input);
    const elapsed = performance.now() - started;
    expect(refused.status, refused.text).toBe(422);
    expect(fieldsOf(refused)).toContain('from');
    // Counting the buckets is arithmetic: a refusal must not take seconds, nor stall every other request meanwhile.
    // Observed: ~2,000 ms, the event loop held for all of it (1970–9999 by hour: 70 million Dates).
    expect({ trendsMs: Math.round(elapsed), eventLoopStalledMs: Math.round(await timerLate) }).toEqual({
      trendsMs: expect.toSatisfy((ms: number) => ms < 500),
      eventLoopStalledMs: expect.toSatisfy((ms: number) => ms < 300),
    });
  });

  it('revenue.whatIf (a GET query) keeps a 9-decimal limit_value sent as a JSON number exactly, as POST bodies do', async () => {
    // 12345678.123456789: 9 decimals, below 10^18, a value ZDecimal accepts and POST bodies keep exactly.
    const answer = await query('revenue.whatIf', `{"meter_id":"${meterId}","plan_name":"capped","limit_value":12345678.123456789}`);
    expect(answer.status, answer.text).toBe(200);
    // Observed: "12345678.12345679" — the what-if is computed for a limit nobody asked for.
    expect(answer.json.result.data.new_terms.limit_value).toBe('12345678.123456789');
  });

  it('meters.preview (a GET query) keeps a 9-decimal plan limit sent as a JSON number exactly', async () => {
    const answer = await query(
      'meters.preview',
      '{"event_name":"storage","aggregation_type":"sum","display_name":"S","unit_name":"GB","plan_limits":[{"plan_name":"capped","limit_value":12345678.123456789}]}',
    );
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json.result.data.plans.find((p: { plan_name: string }) => p.plan_name === 'capped').limit_value).toBe('12345678.123456789');
  });

  it('usage.check (a GET query) judges the value sent, like its REST twin: exactly the hard-capped limit is allowed', async () => {
    // REST reads the value as text: exactly the limit fits.
    const rest = await call('GET', '/api/usage/check?user_id=capped-user&event_name=storage&value=12345678.123456789');
    expect(rest.status, rest.text).toBe(200);
    expect(rest.json.allowed).toBe(true);
    // tRPC, as a client's JSON encoder writes the same number: rounded to 12345678.12345679 before it is judged.
    const trpc = await query('usage.check', '{"user_id":"capped-user","event_name":"storage","value":12345678.123456789}');
    expect(trpc.status, trpc.text).toBe(200);
    expect(trpc.json.result.data.allowed).toBe(true);
  });

  it('list limits refuse values that are not numbers (an array, a boolean, hex) instead of coercing them', async () => {
    for (const limit of [[5], true, '0x10']) {
      const reply = await query('alerts.list', JSON.stringify({ limit }));
      expect(reply.status, `limit ${JSON.stringify(limit)}: ${reply.text}`).toBe(422);
      expect(fieldsOf(reply)).toContain('limit');
    }
    const rest = await call('GET', '/api/usage/alerts?limit=0x10');
    expect(rest.status, rest.text).toBe(422);
  });

  it('apiKeys.create refuses unknown keys (tRPC and REST) instead of minting a key without them', async () => {
    // A client that believes it asked for an expiring key gets one that never expires, and is told nothing.
    const count = async () => (await call('GET', '/api/trpc/apiKeys.list')).json.result.data.keys.length as number;
    const before = await count();
    const body = { name: 'ci', scopes: ['read'], expires_at: '2026-12-01T00:00:00Z' };
    const trpc = await call('POST', '/api/trpc/apiKeys.create', body);
    const rest = await call('POST', '/api/usage/keys', body);
    // Observed: 200 and 201, two never-expiring keys minted.
    expect({ trpc: trpc.status, rest: rest.status, trpcFields: fieldsOf(trpc), restFields: (rest.json?.errors ?? []).map((e: { field: string }) => e.field), keysAdded: (await count()) - before }).toEqual({
      trpc: 422,
      rest: 422,
      trpcFields: ['expires_at'],
      restFields: ['expires_at'],
      keysAdded: 0,
    });
  });

  it('a tRPC batch cannot carry more events per request than the 1,000 a batch may hold', async () => {
    const events = (n: number, prefix: string) => Array.from({ length: 1000 }, (_, i) => ({ event_name: 'storage', user_id: `${prefix}-${n}-${i % 10}`, value: 1 }));
    const reply = await call('POST', '/api/trpc/usage.trackBatch,usage.trackBatch,usage.trackBatch?batch=1', { 0: events(0, 'b'), 1: events(1, 'b'), 2: events(2, 'b') });
    const accepted = Array.isArray(reply.json)
      ? reply.json.reduce((n: number, r: any) => n + ((r.result?.data?.results ?? []) as Array<{ status: number }>).filter((x) => x.status === 201).length, 0)
      : 0;
    // Observed: 200, 3,000 events recorded by one HTTP request (README: "events per request (≤ 1,000)").
    expect(accepted, reply.text.slice(0, 300)).toBeLessThanOrEqual(1000);
  });
});
