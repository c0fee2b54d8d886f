import { describe, expect, it } from 'vitest';
import { lockCreatorConfig, withCreator } from '../db/tenant.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * An event of a period that ended while it waited to be judged (behind a plan change that
 * committed just after midnight) is judged by the plan in force at the period's end — the one
 * the period is billed on —, not by the change that came after it.
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-10-31T23:59:59.000Z'));

type Call = ReturnType<typeof api>;
const track = (call: Call, body: Record<string, unknown>) => call('POST', '/api/usage/track', body);

describe('a plan change that takes effect just after a period ended', () => {
  it('does not judge an event of the ended period (sent before the change, committed after it) by the new plan', async () => {
    // Given October: "r" on pro (100 calls, overage 1 each) — free would be 1 call, hard cap — with 1 call used
    setNow(new Date('2026-10-31T23:59:59.000Z'));
    const { apiKey, creator } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    await createMeter(call, {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'free', limit_value: 1, hard_cap: true },
        { plan_name: 'pro', limit_value: 100, overage_price: 1 },
      ],
    });
    expect((await call('PUT', '/api/usage/customers/r', { plan_name: 'pro' })).status).toBe(201);
    expect((await track(call, { event_name: 'calls', user_id: 'r' })).status).toBe(201);

    // An in-flight ingest transaction of this creator holds its configuration lock (shared), as a
    // group commit does while it judges events; we hold it here to make the interleaving certain.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = withCreator(server().rt.db, creator.id, async (tx) => {
      await lockCreatorConfig(tx, creator.id, 'shared');
      locked();
      await held;
    });
    await isLocked;

    // When the creator moves r to free (the PUT waits for the lock)…
    const moved = call('PUT', '/api/usage/customers/r', { plan_name: 'free' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    // …an event arrives at 23:59:59.999, in October (it queues behind the waiting change)…
    setNow(new Date('2026-10-31T23:59:59.999Z'));
    const event = track(call, { event_name: 'calls', user_id: 'r' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // …and the lock is free again just after midnight: the move takes effect on 1 November
    setNow(new Date('2026-11-01T00:00:00.100Z'));
    release();
    await holder;
    expect((await moved).status).toBe(200);

    // Then October, billed on pro (the plan in force at its end), takes the call: 2 of 100
    // (not 402 "past the 1 limit": free is a plan r was never on in October).
    const answer = await event;
    expect(answer.status, answer.text).toBe(201);
    expect(answer.json.usage).toMatchObject({ used: '2', limit: '100', remaining: '98', period_end: '2026-11-01T00:00:00.000Z' });

    setNow(new Date('2026-11-01T01:00:00.000Z'));
    const october = (await call('GET', '/api/usage/customers/r/usage?period=previous')).json;
    expect(october).toMatchObject({ plan_name: 'pro', period_start: '2026-10-01T00:00:00.000Z' });
    expect(october.meters[0]).toMatchObject({ used: '2', limit: '100', remaining: '98', overage_quantity: '0', overage_amount: '0' });
  });

  it('nor by a limit change that committed just after the period ended', async () => {
    // Given October: "r" on pro (100 calls, overage 1 each) — free would be 1 call, hard cap — with 1 call used
    setNow(new Date('2026-10-31T23:59:59.000Z'));
    const { apiKey, creator } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    const meter = await createMeter(call, {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'free', limit_value: 1, hard_cap: true },
        { plan_name: 'pro', limit_value: 100, overage_price: 1 },
      ],
    });
    expect((await call('PUT', '/api/usage/customers/r', { plan_name: 'pro' })).status).toBe(201);
    expect((await track(call, { event_name: 'calls', user_id: 'r' })).status).toBe(201);

    // An in-flight ingest transaction of this creator holds its configuration lock (shared), as a
    // group commit does while it judges events; we hold it here to make the interleaving certain.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = withCreator(server().rt.db, creator.id, async (tx) => {
      await lockCreatorConfig(tx, creator.id, 'shared');
      locked();
      await held;
    });
    await isLocked;

    // When the creator caps pro at 1 call (the PATCH waits for the lock)…
    const moved = call('PATCH', `/api/usage/meters/${meter.id}`, { plan_limits: [{ plan_name: 'free', limit_value: 1, hard_cap: true }, { plan_name: 'pro', limit_value: 1, hard_cap: true }] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    // …an event arrives at 23:59:59.999, in October (it queues behind the waiting change)…
    setNow(new Date('2026-10-31T23:59:59.999Z'));
    const event = track(call, { event_name: 'calls', user_id: 'r' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // …and the lock is free again just after midnight: the cap takes effect on 1 November
    setNow(new Date('2026-11-01T00:00:00.100Z'));
    release();
    await holder;
    expect((await moved).status).toBe(200);

    // Then October, billed on pro's limit in force at its end, takes the call: 2 of 100.
    const answer = await event;
    expect(answer.status, answer.text).toBe(201);
    expect(answer.json.usage).toMatchObject({ used: '2', limit: '100', remaining: '98', period_end: '2026-11-01T00:00:00.000Z' });

    setNow(new Date('2026-11-01T01:00:00.000Z'));
    const october = (await call('GET', '/api/usage/customers/r/usage?period=previous')).json;
    expect(october).toMatchObject({ plan_name: 'pro', period_start: '2026-10-01T00:00:00.000Z' });
    expect(october.meters[0]).toMatchObject({ used: '2', limit: '100', remaining: '98', overage_quantity: '0', overage_amount: '0' });
  });
});
