import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/** A customer's previous period after their billing anchor moved: the one last metered, in every answer that shows it. */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-10-25T12:00:00.000Z'));

const newCreator = async () => api(server().url, (await createCreatorWithKey(server().rt)).apiKey);

/** A count meter: 10 calls included on `pro`, then 0.5 each. */
const PRO_CALLS = {
  event_name: 'calls',
  display_name: 'Calls',
  aggregation_type: 'count',
  unit_name: 'calls',
  plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: '0.5' }],
};

describe('the previous period of a customer whose billing anchor moved', () => {
  it('still answers the usage (and overage) the customer was last billed for, not zero over a period that never existed', async () => {
    setNow(new Date('2026-10-25T12:00:00.000Z'));
    const call = await newCreator();
    // 10 calls included, 0.5 each beyond; dan (calendar months) used 14 in October
    const meter = await createMeter(call, PRO_CALLS);
    expect((await call('PUT', '/api/usage/customers/dan', { plan_name: 'pro' })).status).toBe(201);
    const october = await call('POST', '/api/usage/track', Array.from({ length: 14 }, () => ({ event_name: 'calls', user_id: 'dan', timestamp: '2026-10-25T10:00:00Z' })));
    expect(october.json.results.map((r: { status: number }) => r.status)).toEqual(Array(14).fill(201));

    // On 5 November (October closed and past its grace), the anchor moves to the 3rd: accepted (README)
    setNow(new Date('2026-11-05T12:00:00.000Z'));
    const before = await call('GET', '/api/usage/customers/dan/usage?period=previous');
    expect(before.json.meters[0]).toMatchObject({ used: '14', overage_quantity: '4', overage_amount: '2' });
    const moved = await call('PUT', '/api/usage/customers/dan', { billing_anchor: '2026-01-03T00:00:00Z' });
    expect(moved.status, moved.text).toBe(200);

    // The previous period is still the one October's 14 calls were metered and billed in
    const after = await call('GET', '/api/usage/customers/dan/usage?period=previous');
    expect(after.status, after.text).toBe(200);
    const figures = after.json.meters.find((m: { meter_id: string }) => m.meter_id === meter.id);
    // Observed: period 3 Oct – 3 Nov (a period dan never had) with used 0 and no overage,
    // although 22 of its days are October's, with 14 calls and 2 of overage billed.
    expect({ period_start: after.json.period_start, used: figures.used, overage_amount: figures.overage_amount }).toEqual({
      period_start: '2026-10-01T00:00:00.000Z',
      used: '14',
      overage_amount: '2',
    });
    expect(after.json.period_end).toBe('2026-11-01T00:00:00.000Z');

    // Top users of the previous period list him with that period's figures
    const top = await trpcQuery(call, 'customers.top', { meter_id: meter.id, period: 'previous' });
    expect(top.customers.map((c: Record<string, string>) => [c.user_id, c.period_start, c.used, c.overage_amount])).toEqual([['dan', '2026-10-01T00:00:00.000Z', '14', '2']]);

    // And a what-if on his plan's last period counts him: 4 over at 0.5 now, 9 over at 1 with a limit of 5
    const whatIf = await trpcQuery(call, 'revenue.whatIf', { meter_id: meter.id, plan_name: 'pro', limit_value: '5', overage_price: '1' });
    expect(whatIf.customers_considered).toBe(1);
    expect([whatIf.before.revenue, whatIf.after.revenue]).toEqual(['2', '9']);
  });

  it('a customer without usage in the period before the current one has that (empty) period as previous, not an older one', async () => {
    setNow(new Date('2026-09-20T12:00:00.000Z'));
    const call = await newCreator();
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'eve' })).status).toBe(201);
    // September had usage; October none; in November the previous period is October, empty
    setNow(new Date('2026-11-05T12:00:00.000Z'));
    const previous = await call('GET', '/api/usage/customers/eve/usage?period=previous');
    expect(previous.json).toMatchObject({ period_start: '2026-10-01T00:00:00.000Z', period_end: '2026-11-01T00:00:00.000Z' });
    expect(previous.json.meters[0].used).toBe('0');
  });

  it('an old period ending up to 28 days before the new current one is the previous period everywhere: Top users and the what-if too', async () => {
    // The smallest case a property test over the TS and SQL period rules found: March metered
    // under calendar months, an idle April, the anchor moved to the 28th; on May 27 (23:59:59.999)
    // the current period starts April 28, and March (ending April 1, 27 days before) is the
    // previous one (isPreviousPeriod) — but the SQL of Top users (start after now − 64 days) and
    // of the what-if (end after now − 32 days) left it out.
    setNow(new Date('2025-03-15T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await createMeter(call, PRO_CALLS);
    expect((await call('PUT', '/api/usage/customers/fay', { plan_name: 'pro' })).status).toBe(201);
    const march = await call('POST', '/api/usage/track', Array.from({ length: 14 }, () => ({ event_name: 'calls', user_id: 'fay' })));
    expect(march.json.results.map((r: { status: number }) => r.status)).toEqual(Array(14).fill(201));
    setNow(new Date('2025-04-29T12:00:00.000Z'));
    const moved = await call('PUT', '/api/usage/customers/fay', { billing_anchor: '2025-04-28T00:00:00.000Z' });
    expect(moved.status, moved.text).toBe(200);

    setNow(new Date('2025-05-27T23:59:59.999Z'));
    const previous = await call('GET', '/api/usage/customers/fay/usage?period=previous');
    expect(previous.json).toMatchObject({ period_start: '2025-03-01T00:00:00.000Z', period_end: '2025-04-01T00:00:00.000Z' });
    expect(previous.json.meters[0]).toMatchObject({ used: '14', overage_amount: '2' });
    const top = await trpcQuery(call, 'customers.top', { meter_id: meter.id, period: 'previous' });
    expect(top.customers.map((c: Record<string, string>) => [c.user_id, c.period_start, c.used])).toEqual([['fay', '2025-03-01T00:00:00.000Z', '14']]);
    const whatIf = await trpcQuery(call, 'revenue.whatIf', { meter_id: meter.id, plan_name: 'pro', limit_value: '5', overage_price: '1' });
    expect(whatIf.customers_considered).toBe(1);
    expect([whatIf.before.revenue, whatIf.after.revenue]).toEqual(['2', '9']);
  });
});
