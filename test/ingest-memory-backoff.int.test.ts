import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * Several server processes behind a load balancer (README, "what bounds it") share customers:
 * each process's memory of a counter is stale after the other's commit, and a group judged from
 * it is refused where it is written — a transaction spent for nothing before the usual way.
 * A process that keeps finding its memory of a creator stale stops trying it for a while
 * (doubling, up to 64 groups), and tries again after.
 */
const { url } = await useTestDatabase();
const first = useTestServer(url);
const second = useTestServer(url);
const missed = () => first().rt.ingest.stats.memoryMissed + second().rt.ingest.stats.memoryMissed;
const transactions = () => first().rt.ingest.stats.transactions + second().rt.ingest.stats.transactions;

describe('memory judged stale again and again: backing off', () => {
  it('two processes taking turns on one customer waste a few transactions, not one per event; alone again, a process judges from memory again', async () => {
    const { apiKey } = await createCreatorWithKey(first().rt);
    const viaFirst = api(first().url, apiKey);
    const viaSecond = api(second().url, apiKey);
    await createMeter(viaFirst, {
      event_name: 'calls',
      display_name: 'Calls',
      unit_name: 'calls',
      aggregation_type: 'sum',
      plan_limits: [{ plan_name: 'free', limit_value: 1000, hard_cap: true }],
    });
    expect((await viaFirst('PUT', '/api/usage/customers/u', { plan_name: 'free' })).status).toBe(201);
    const track = (call: typeof viaFirst) => call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 1 });
    // Both memories warm.
    for (const call of [viaFirst, viaSecond, viaFirst, viaSecond]) expect((await track(call)).status).toBe(201);

    const [missedBefore, transactionsBefore] = [missed(), transactions()];
    const used: string[] = [];
    for (let i = 0; i < 200; i++) {
      const answer = await track(i % 2 === 0 ? viaFirst : viaSecond);
      expect(answer.status, answer.text).toBe(201);
      used.push(answer.json.usage.used);
    }
    // Every answer exact, whichever way its group went.
    expect(used).toEqual(Array.from({ length: 200 }, (_, i) => String(5 + i)));
    const wasted = missed() - missedBefore;
    // Taking turns, each process's memory is stale at every one of its groups: 200 refused
    // transactions without backing off; with it, a handful per process (1, 2, 4 … 64 groups apart).
    expect(wasted, `${wasted} groups judged from stale memory (each a transaction recording nothing)`).toBeGreaterThan(0);
    expect(wasted).toBeLessThanOrEqual(20);
    expect(transactions() - transactionsBefore).toBe(200);

    // One process alone again: after at most its pause, it judges from memory again.
    const fromMemoryBefore = first().rt.ingest.stats.fromMemory;
    for (let i = 0; i < 150; i++) expect((await track(viaFirst)).status).toBe(201);
    expect(first().rt.ingest.stats.fromMemory - fromMemoryBefore).toBeGreaterThanOrEqual(80);
    expect((await viaFirst('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ used: '354', limit: '1000' });
  });
});
