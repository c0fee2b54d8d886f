import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';
import { lockCreatorConfig, withCreator } from '../db/tenant.js';

/**
 * Configuration changes at their edges, where they meet ingestion (from a review of the
 * configuration paths, 2026-11-27: each of these failed on the code before its fix).
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-10-25T12:00:00.000Z'));

const newCreator = async () => api(server().url, (await createCreatorWithKey(server().rt)).apiKey);

describe('late-event grace raised after a billing anchor moved', () => {
  it('does not reopen days a closed, capped period already metered (no double metering past the hard cap)', async () => {
    setNow(new Date('2026-10-25T12:00:00.000Z'));
    const call = await newCreator();
    // Given: 10 calls a month, hard cap; cal (calendar months) used all 10 on 25 October
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'capped', limit_value: 10, hard_cap: true }] });
    expect((await call('PUT', '/api/usage/customers/cal', { plan_name: 'capped' })).status).toBe(201);
    const october = await call('POST', '/api/usage/track', Array.from({ length: 10 }, () => ({ event_name: 'calls', user_id: 'cal', timestamp: '2026-10-25T10:00:00Z' })));
    expect(october.json.results.map((r: { status: number }) => r.status)).toEqual(Array(10).fill(201));

    // On 5 November (October closed, the 24 h grace over), the anchor moves to the 3rd: accepted,
    // because the periods still taking events (3 Nov – 3 Dec) start after October ends.
    setNow(new Date('2026-11-05T12:00:00.000Z'));
    const anchored = await call('PUT', '/api/usage/customers/cal', { billing_anchor: '2026-01-03T00:00:00Z' });
    expect(anchored.status, anchored.text).toBe(200);

    // Then the creator raises the late-event grace to 35 days. That reopens 3 Oct – 3 Nov under the
    // new anchor — a period overlapping October, whose capped usage is already metered and billed.
    const graced = await call('PUT', '/api/usage/settings', { late_event_grace_hours: 840 });
    // Refused, as the anchor change making the same overlap is, naming the field and the customer; nothing changed.
    expect(graced.status, graced.text).toBe(409);
    expect(graced.json).toMatchObject({ type: expect.stringContaining('late-event-grace-reopens-period'), errors: [{ field: 'late_event_grace_hours' }] });
    expect(graced.json.detail).toContain('"cal"');
    expect((await call('GET', '/api/usage/settings')).json.late_event_grace_hours).toBe(24);
    // A grace that opens nothing of October (3 November's period on) is still accepted.
    expect((await call('PUT', '/api/usage/settings', { late_event_grace_hours: 48 })).status).toBe(200);

    // An event of 25 October (already 10 of 10 in October's hard-capped period)
    const again = await call('POST', '/api/usage/track', Array.from({ length: 10 }, () => ({ event_name: 'calls', user_id: 'cal', timestamp: '2026-10-25T11:00:00Z' })));
    const accepted = again.json.results.filter((r: { status: number }) => r.status === 201).length;

    // Never 10 more calls metered for days October's hard cap already filled (metered twice, billed twice).
    expect(accepted, `${accepted} of 10 back-dated events accepted`).toBe(0);
  });
});

describe('odd but valid-looking timestamps in configuration input', () => {
  it('a billing_anchor in year 0000 is answered 422 naming the field, not 500', async () => {
    setNow(new Date('2026-10-25T12:00:00.000Z'));
    const call = await newCreator();
    const put = await call('PUT', '/api/usage/customers/ann', { billing_anchor: '0000-01-01T00:00:00Z' });
    // No input produces a 500 (Postgres refuses year 0 when the row is written): 422 naming the field.
    expect(put.status, put.text).toBe(422);
    expect(put.json.errors).toEqual([expect.objectContaining({ field: 'billing_anchor' })]);
  });

  it('GET /api/usage/alerts?before= in year 0000 is answered 422 naming the field, not 500', async () => {
    const call = await newCreator();
    const list = await call('GET', '/api/usage/alerts?before=0000-01-01T00:00:00Z');
    expect(list.status, list.text).toBe(422);
    expect(list.json.errors).toEqual([expect.objectContaining({ field: 'before' })]);
  });

  it('a billing_anchor in a year below 100 keeps its day of month: periods start on the anchor’s day, or the anchor is refused', async () => {
    setNow(new Date('2026-10-25T12:00:00.000Z'));
    const call = await newCreator();
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    // An anchor on the 20th at 09:30 (only day and time matter), written with year 0012
    const put = await call('PUT', '/api/usage/customers/bob', { billing_anchor: '0012-03-20T09:30:00Z' });
    // Stored as year 12, it was read back by postgres.js through `new Date('0012-03-20 09:30:00+00')`,
    // which V8 parses as 2020-12-03: every period started on the 3rd. Refused instead, naming the field.
    expect(put.status, put.text).toBe(422);
    expect(put.json.errors).toEqual([expect.objectContaining({ field: 'billing_anchor', message: 'must be between 1970-01-01 and 9999-12-31' })]);
    // The same anchor in a four-digit year gives periods from the 20th at 09:30.
    expect((await call('PUT', '/api/usage/customers/bob', { billing_anchor: '2012-03-20T09:30:00Z' })).status).toBe(201);
    expect((await call('GET', '/api/usage/customers/bob/usage')).json.period_start).toBe('2026-10-20T09:30:00.000Z');
  });
});

describe('a billing anchor for a customer with no recorded usage', () => {
  it('is accepted when the only period counter is the empty one a refused event left for its alert', async () => {
    setNow(new Date('2026-10-25T12:00:00.000Z'));
    const call = await newCreator();
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'trial', limit_value: 0, hard_cap: true }] });
    expect((await call('PUT', '/api/usage/customers/dan', { plan_name: 'trial' })).status).toBe(201);
    // dan's first event is refused by the cap (nothing recorded; a hard_limit_reached alert is raised)
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'dan' })).status).toBe(402);
    const usage = await call('GET', '/api/usage/customers/dan/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '0' });

    // The creator aligns dan with his Stripe subscription, anchored on the 20th
    const anchored = await call('PUT', '/api/usage/customers/dan', { billing_anchor: '2026-01-20T00:00:00Z' });
    // dan has no usage recorded anywhere: a customer without usage takes any anchor.
    expect(anchored.status, anchored.text).toBe(200);
  });
});

describe('a change that waited for the configuration lock', () => {
  it('takes effect (and is dated) when it got the lock, not when it was asked for', async () => {
    setNow(new Date('2026-10-25T12:00:00.000Z'));
    const { creator, apiKey } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    const meter = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 10 }] });
    expect((await call('PUT', '/api/usage/customers/eve', { plan_name: 'pro' })).status).toBe(201);

    // A group commit judging events holds the creator's configuration lock (shared) …
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const group = withCreator(server().rt.db, creator.id, async (tx) => {
      await lockCreatorConfig(tx, creator.id, 'shared');
      locked();
      await held;
    });
    await isLocked;
    // … when the limit and eve's plan are changed at 12:00; the group ends at 12:05.
    const patched = call('PATCH', `/api/usage/meters/${meter.id}`, { plan_limits: [{ plan_name: 'pro', limit_value: 20 }] });
    const moved = call('PUT', '/api/usage/customers/eve', { plan_name: 'team' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    setNow(new Date('2026-10-25T12:05:00.000Z'));
    release();
    await group;
    expect((await patched).status).toBe(200);
    expect((await moved).status).toBe(200);

    // The events of that group were judged by the old limit and plan: the new ones start at 12:05.
    expect((await patched).json.plan_limits).toEqual([expect.objectContaining({ plan_name: 'pro', limit_value: '20', effective_from: '2026-10-25T12:05:00.000Z' })]);
    expect((await moved).json).toMatchObject({ plan_name: 'team', updated_at: '2026-10-25T12:05:00.000Z' });
  });
});

describe('list limits of a meter definition', () => {
  it('too many rollup dimensions or alert thresholds are refused with a sentence that reads after the field’s label', async () => {
    const call = await newCreator();
    const meter = { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' };
    const dimensions = await call('POST', '/api/usage/meters', { ...meter, rollup_dimensions: ['a', 'b', 'c', 'd'] });
    expect(dimensions.status, dimensions.text).toBe(422);
    // The form shows "Rollup dimensions " + message: it read "Rollup dimensions at most 3 dimensions".
    expect(dimensions.json.errors).toEqual([{ field: 'rollup_dimensions', message: 'must list at most 3 properties' }]);
    const thresholds = await call('POST', '/api/usage/meters', { ...meter, alert_thresholds: Array.from({ length: 11 }, (_, i) => String((i + 1) / 20)) });
    expect(thresholds.status, thresholds.text).toBe(422);
    expect(thresholds.json.errors).toEqual([{ field: 'alert_thresholds', message: 'must list at most 10 thresholds' }]);
    expect((await call('GET', '/api/usage/meters')).json.meters).toEqual([]);
  });
});
