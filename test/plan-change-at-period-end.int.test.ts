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

/**
 * October: "r" on pro (100 calls, overage 1 each; free would be 1 call, hard cap) with 1 call
 * used. An ingest transaction of the creator holds its configuration lock (shared), as a group
 * commit does while it judges events — held here to make the interleaving certain — while
 * `change` is sent (it waits for the lock) and then an event at 23:59:59.999 (it queues behind
 * the change); the lock is free again at 00:00:00.100 on 1 November, when the change takes
 * effect. Answers the event's answer and October's usage as billed.
 */
async function eventBehindChangeAtMidnight(change: (call: Call, meterId: string) => ReturnType<Call>) {
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

  const changed = change(call, meter.id);
  await new Promise((resolve) => setTimeout(resolve, 200));
  setNow(new Date('2026-10-31T23:59:59.999Z'));
  const event = track(call, { event_name: 'calls', user_id: 'r' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  setNow(new Date('2026-11-01T00:00:00.100Z'));
  release();
  await holder;
  expect((await changed).status).toBe(200);

  const answer = await event;
  setNow(new Date('2026-11-01T01:00:00.000Z'));
  const october = (await call('GET', '/api/usage/customers/r/usage?period=previous')).json;
  return { answer, october };
}

describe('a change that takes effect just after a period ended', () => {
  // October is billed on pro's 100 (the plan and limit in force at its end): the event is its
  // second call of 100, not a 402 "past the 1 limit" under terms r never had in October.
  const judgedAsBilled = ({ answer, october }: Awaited<ReturnType<typeof eventBehindChangeAtMidnight>>) => {
    expect(answer.status, answer.text).toBe(201);
    expect(answer.json.usage).toMatchObject({ used: '2', limit: '100', remaining: '98', period_end: '2026-11-01T00:00:00.000Z' });
    expect(october).toMatchObject({ plan_name: 'pro', period_start: '2026-10-01T00:00:00.000Z' });
    expect(october.meters[0]).toMatchObject({ used: '2', limit: '100', remaining: '98', overage_quantity: '0', overage_amount: '0' });
  };

  it('an event of the ended period (sent before a plan change, judged after it) is judged by the plan in force at its end, as the period is billed', async () => {
    judgedAsBilled(await eventBehindChangeAtMidnight((call) => call('PUT', '/api/usage/customers/r', { plan_name: 'free' })));
  });

  it('and by the limit in force at its end, not a limit change that committed just after it', async () => {
    judgedAsBilled(
      await eventBehindChangeAtMidnight((call, meterId) =>
        call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: [{ plan_name: 'free', limit_value: 1, hard_cap: true }, { plan_name: 'pro', limit_value: 1, hard_cap: true }] }),
      ),
    );
  });
});
