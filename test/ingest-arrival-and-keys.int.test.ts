/** Each request judged as of its own arrival; a key reused within a batch answered as after it; a meter created after a period closed caps its late events. */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-01-31T23:59:50.000Z'));

type Internals = { queue: unknown[]; inFlight: number };
const committer = () => server().rt.ingest as unknown as Internals;
async function until(cond: () => boolean, what: string) {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('ingestion: arrival times, keys in a batch, late events of a new meter', () => {
  it('an event sent without a timestamp in February is counted in February, even when it shares a commit with one sent in January', async () => {
    setNow(new Date('2026-01-31T23:59:50.000Z'));
    // Creator X: 1 call a month, hard cap, default plan
    const x = await createCreatorWithKey(server().rt);
    const callX = api(server().url, x.apiKey);
    await createMeter(callX, { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 1, hard_cap: true }] });
    expect((await callX('PUT', '/api/usage/settings', { default_plan: 'free' })).status).toBe(200);
    expect((await callX('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u' })).status).toBe(201);
    // Another creator Y whose commits are slow for a moment (its counter row is busy)
    const y = await createCreatorWithKey(server().rt);
    const callY = api(server().url, y.apiKey);
    await createMeter(callY, { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' });
    expect((await callY('POST', '/api/usage/track', { event_name: 'calls', user_id: 'y' })).status).toBe(201);

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = server().rt.ownerDb.transaction(async (tx) => {
      await tx.execute(sql`select 1 from usage_aggregates where creator_id = ${y.creator.id} for update`);
      locked();
      await held;
    });
    await isLocked;
    const slow = [callY('POST', '/api/usage/track', { event_name: 'calls', user_id: 'y' }), callY('POST', '/api/usage/track', { event_name: 'calls', user_id: 'y' })];
    await until(() => committer().inFlight >= 2, 'two transactions in flight');

    // X's requests wait for a transaction: one sent at 23:59:59.900 on 31 January, one at 00:00:00.100 on 1 February
    setNow(new Date('2026-01-31T23:59:59.900Z'));
    const january = callX('POST', '/api/usage/track', { event_name: 'calls', user_id: 'someone-else' });
    await until(() => committer().queue.length === 1, 'the January request queued');
    setNow(new Date('2026-02-01T00:00:00.100Z'));
    const february = callX('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u' });
    await until(() => committer().queue.length === 2, 'the February request queued');
    release();
    await holder;
    await Promise.all(slow);
    expect((await january).status).toBe(201);

    // Then the February request is stamped when it was sent and counted against February's fresh quota
    const answer = await february;
    expect(answer.status, answer.text).toBe(201);
    expect(answer.json).toMatchObject({ timestamp: '2026-02-01T00:00:00.100Z', usage: { used: '1', period_start: '2026-02-01T00:00:00.000Z' } });
  });

  it('within one batch, a second event reusing an accepted key with another payload is refused as a key reuse, as it is when sent after', async () => {
    setNow(new Date('2026-03-10T12:00:00.000Z'));
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' });
    const first = { event_name: 'calls', user_id: 'u', idempotency_key: 'k1' };
    const reuse = { event_name: 'nope', user_id: 'u', idempotency_key: 'k1' };
    const batch = await call('POST', '/api/usage/track', [first, reuse]);
    expect(batch.status).toBe(200);
    expect(batch.json.results[0].status).toBe(201);
    // Sent after the batch, the same event is told the key was used for another event
    const alone = await call('POST', '/api/usage/track', reuse);
    expect(alone.status).toBe(422);
    expect(alone.json.type).toMatch(/idempotency-key-reused$/);
    // In the batch it got another answer (unknown-meter)
    expect(batch.json.results[1].error.type).toBe(alone.json.type);
  });

  it('a hard-capped meter created just after a month closed still caps late events of that month', async () => {
    setNow(new Date('2026-04-01T00:30:00.000Z'));
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    // The creator starts metering at 00:30 on 1 April: free plan, 2 calls, hard cap
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 2, hard_cap: true }] });
    expect((await call('PUT', '/api/usage/customers/u', { plan_name: 'free' })).status).toBe(201);
    // The app flushes five calls it buffered at the end of March (within the 24 h grace)
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', timestamp: '2026-03-31T23:59:00Z' })).status);
    // Then no more than the cap is recorded: 2 accepted, 3 refused (402); here all 5 are accepted, limit null
    expect(statuses).toEqual([201, 201, 402, 402, 402]);
    // And March's usage is reported against that limit, as it was judged
    const previous = await call('GET', '/api/usage/customers/u/usage?period=previous');
    expect(previous.json.meters[0]).toMatchObject({ used: '2', limit: '2', remaining: '0' });
    const top = await call('GET', `/api/trpc/customers.top?input=${encodeURIComponent(JSON.stringify({ meter_id: previous.json.meters[0].meter_id, period: 'previous' }))}`);
    expect(top.status, top.text).toBe(200);
    expect(top.json.result.data.customers[0]).toMatchObject({ user_id: 'u', used: '2', limit: '2' });
  });
});
