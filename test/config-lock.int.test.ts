import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockCreatorConfig } from '../db/tenant.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Events are never judged by a configuration that a change replaces while they are being
 * committed: a group holds its creator's configuration lock shared from its reads to its
 * commit, a change (plan, limit, anchor, default plan, grace, meter) holds it exclusively.
 * Each side is held open here by hand, on the owner's connection, to see the other wait.
 */
const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url);
});
afterAll(() => server.close());

const settle = <T>(promise: Promise<T>) => {
  const state: { done: boolean; value?: T } = { done: false };
  void promise.then((value) => Object.assign(state, { done: true, value }));
  return state;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cappedCreator() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  const meter = await call('POST', '/api/usage/meters', {
    event_name: 'calls',
    display_name: 'Calls',
    unit_name: 'calls',
    aggregation_type: 'sum',
    plan_limits: [
      { plan_name: 'pro', limit_value: null },
      { plan_name: 'free', limit_value: 100, hard_cap: true },
    ],
  });
  expect(meter.status, meter.text).toBe(201);
  expect((await call('PUT', '/api/usage/customers/u', { plan_name: 'pro' })).status).toBe(201);
  expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 90 })).status).toBe(201);
  return { call, creatorId: creator.id, meterId: meter.json.id as string };
}

describe('the configuration lock', () => {
  it('an event arriving while a plan change is being committed waits for it, and is judged by the new plan', async () => {
    const { call, creatorId } = await cappedCreator();
    let tracked!: ReturnType<typeof settle<Awaited<ReturnType<typeof call>>>>;
    await server.rt.ownerDb.transaction(async (tx) => {
      // A plan change in progress: u moves from unlimited pro to free, capped at 100 (u is at 90)
      await lockCreatorConfig(tx, creatorId, 'exclusive');
      await tx.execute(sql`update customers set plan_name = 'free' where creator_id = ${creatorId} and user_id = 'u'`);
      tracked = settle(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 50 }));
      await sleep(400);
      // The event waits: judged now, by pro, it would be accepted past the cap about to apply
      expect(tracked.done).toBe(false);
    });
    await expect.poll(() => tracked.done).toBe(true);
    expect(tracked.value!.status, tracked.value!.text).toBe(402);
    expect((await call('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ used: '90', limit: '100' });
  });

  it('a limit change waits for the events being committed (its alerts and checks then see them)', async () => {
    const { call, creatorId, meterId } = await cappedCreator();
    let patched!: ReturnType<typeof settle<Awaited<ReturnType<typeof call>>>>;
    await server.rt.ownerDb.transaction(async (tx) => {
      // A group of events in flight for this creator
      await lockCreatorConfig(tx, creatorId, 'shared');
      patched = settle(call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: [{ plan_name: 'pro', limit_value: 50, hard_cap: true }] }));
      await sleep(400);
      expect(patched.done).toBe(false);
    });
    await expect.poll(() => patched.done).toBe(true);
    expect(patched.value!.status, patched.value!.text).toBe(200);
  });

  it('one creator’s change does not hold up another creator’s events', async () => {
    const a = await cappedCreator();
    const b = await cappedCreator();
    await server.rt.ownerDb.transaction(async (tx) => {
      await lockCreatorConfig(tx, a.creatorId, 'exclusive');
      const tracked = await b.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 1 });
      expect(tracked.status).toBe(201);
    });
  });

  it('events of a creator whose change is in progress wait apart: other creators’ events, sent after them and beside them, are answered meanwhile', async () => {
    const a = await cappedCreator();
    const b = await cappedCreator();
    let waiting: Array<ReturnType<typeof settle<Awaited<ReturnType<typeof a.call>>>>> = [];
    await server.rt.ownerDb.transaction(async (tx) => {
      // A's change in progress, held open for as long as this test needs
      await lockCreatorConfig(tx, a.creatorId, 'exclusive');
      // More of A's requests than the committer has transactions in flight (2 for a small queue, 4 at most)…
      waiting = Array.from({ length: 6 }, (_, i) => settle(a.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 1, idempotency_key: `a-${i}` })));
      await sleep(100);
      // …then B's: single events and a batch, some in the same groups as A's
      const singles = Array.from({ length: 5 }, (_, i) => b.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 1, idempotency_key: `b-${i}` }));
      const batch = b.call('POST', '/api/usage/track', [1, 2, 3].map((n) => ({ event_name: 'calls', user_id: `v${n}`, value: n })));
      const interleaved = [...Array.from({ length: 3 }, (_, i) => settle(a.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 1, idempotency_key: `a-late-${i}` })))];
      waiting.push(...interleaved);
      for (const r of await Promise.all(singles)) expect(r.status, r.text).toBe(201);
      const batched = await batch;
      expect(batched.status, batched.text).toBe(200);
      expect(batched.json.results.map((r: { status: number }) => r.status)).toEqual([201, 201, 201]);
      expect((await b.call('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ used: '95' });
      // A's events are still waiting for the change: none answered, none recorded
      expect(waiting.filter((w) => w.done)).toHaveLength(0);
      const counted = (await tx.execute(sql`select count(*)::int as n from usage_events where creator_id = ${a.creatorId}`)) as unknown as Array<{ n: number }>;
      expect(counted[0]!.n).toBe(1);
    });
    const released = Date.now();
    // The change committed: A's events are committed, each once, by the configuration now in force
    await expect.poll(() => waiting.every((w) => w.done), { timeout: 10_000 }).toBe(true);
    for (const w of waiting) expect(w.value!.status, w.value!.text).toBe(201);
    // …and stamped as received when they arrived, not when the change let them through
    for (const w of waiting) expect(Date.parse(w.value!.json.timestamp)).toBeLessThan(released);
    expect((await a.call('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ used: '99' });
  });

  it('more creators mid-change than lanes: one whose change is over is not held behind the others’', async () => {
    const [a, b, c] = [await cappedCreator(), await cappedCreator(), await cappedCreator()];
    // Three changes in progress, each held open on its own connection
    const holds = [a, b, c].map(({ creatorId }) => {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const done = server.rt.db.transaction(async (tx) => {
        await lockCreatorConfig(tx, creatorId, 'exclusive');
        locked();
        await released;
      });
      return { release, isLocked, done };
    });
    await Promise.all(holds.map((h) => h.isLocked));
    const tracked = [a, b, c].map((x, i) => settle(x.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 1, idempotency_key: `k${i}` })));
    await sleep(200);
    expect(tracked.map((t) => t.done)).toEqual([false, false, false]);
    // C's change ends: its event is committed while A's and B's changes are still in progress
    holds[2]!.release();
    await holds[2]!.done;
    await expect.poll(() => tracked[2]!.done, { timeout: 5_000 }).toBe(true);
    expect(tracked[2]!.value!.status, tracked[2]!.value!.text).toBe(201);
    expect(tracked.slice(0, 2).map((t) => t.done)).toEqual([false, false]);
    for (const h of holds.slice(0, 2)) h.release();
    await Promise.all(holds.map((h) => h.done));
    await expect.poll(() => tracked.every((t) => t.done), { timeout: 5_000 }).toBe(true);
    expect(tracked.map((t) => t.value!.status)).toEqual([201, 201, 201]);
  });
});
