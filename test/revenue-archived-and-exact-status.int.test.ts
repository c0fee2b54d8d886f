import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * Revenue figures against hand computations: an archived meter's period is projected at its
 * current value (it meters nothing more), and the what-if judges a customer's status on the
 * exact usage, as the overview does. Clock: 2026-06-16T00:00Z.
 */
const HALF_JUNE = new Date('2026-06-16T00:00:00Z');
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, HALF_JUNE);

async function creator() {
  const { apiKey } = await createCreatorWithKey(server().rt);
  const call = api(server().url, apiKey);
  const put = async (userId: string, body: Record<string, unknown>) => {
    const r = await call('PUT', `/api/usage/customers/${userId}`, body);
    expect([200, 201], r.text).toContain(r.status);
  };
  const track = async (eventName: string, userId: string, value: number | string) => {
    const r = await call('POST', '/api/usage/track', { event_name: eventName, user_id: userId, value });
    expect(r.status, r.text).toBe(201);
  };
  return { call, put, track };
}

describe('revenue overview: projection to each customer’s period end', () => {
  it('an archived meter can meter nothing more, so its period is projected at its current value, not at the run-rate', async () => {
    setNow(HALF_JUNE);
    const { call, put, track } = await creator();
    // Given: render time in minutes (duration), pro: 10 minutes included, then 0.123456789 per minute.
    const render = await createMeter(call, {
      event_name: 'render',
      display_name: 'Render',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: '0.123456789' }],
    });
    // ann (anchored on the 10th at 12:00: period 2026-06-10T12:00 → 2026-07-10T12:00, 30 days, 5.5 elapsed)
    // renders 900 s = 15 minutes.
    await put('ann', { plan_name: 'pro', billing_anchor: '2026-01-10T12:00:00Z' });
    await track('render', 'ann', 900);
    // When: the meter is archived (README: archiving "stops metering"; its usage is still billed).
    expect((await call('DELETE', `/api/usage/meters/${render.id}`)).status).toBe(200);
    expect((await call('POST', '/api/usage/track', { event_name: 'render', user_id: 'ann', value: 60 })).status).toBe(422);

    // Then, by hand: ann's period can only end at 15 minutes, 5 over → 5 × 0.123456789 = 0.617283945,
    // so far and projected alike.
    // (Not the run-rate, as if it kept metering: 900 × 30/5.5 s = 81.818181818 min, 71.818181818 over →
    // 8.866442119 — money the archived meter can never bill.)
    const data = await trpcQuery(call, 'revenue.overview', undefined as never);
    expect(data.meters).toEqual([expect.objectContaining({ meter_id: render.id, archived: true, quantity_so_far: '5', amount_so_far: '0.617283945' })]);
    expect(data.meters[0]).toMatchObject({ quantity_projected: '5', amount_projected: '0.617283945' });
    expect(data.totals).toMatchObject({ amount_so_far: '0.617283945', amount_projected: '0.617283945' });
  });
});

describe('what-if on the last closed period', () => {
  it('a customer beyond the limit by less than the 9th decimal of the unit is in overage, as the overview counts the same usage', async () => {
    setNow(new Date('2026-05-20T00:00:00Z'));
    const { call, put, track } = await creator();
    // Given: GPU time in hours, pro: 1 hour included, then 2 per hour (duration counters keep exact seconds).
    const gpu = await createMeter(call, {
      event_name: 'gpu',
      display_name: 'GPU',
      aggregation_type: 'duration',
      unit_name: 'hours',
      plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: 2 }],
    });
    // lab (calendar months) used 3600.000001 s in May: 1.000000000277… h, beyond the 1-hour limit.
    await put('lab', { plan_name: 'pro' });
    await track('gpu', 'lab', '3600.000001');
    // And the same again this period (June): the overview counts lab as over the limit.
    setNow(HALF_JUNE);
    await track('gpu', 'lab', '3600.000001');
    const overview = await trpcQuery(call, 'revenue.overview', undefined as never);
    expect(overview.totals).toMatchObject({ customers_in_overage: 1, amount_so_far: '0' });

    // Then, by hand, May under pro's current terms (the what-if's "before"): 3600.000001 s > 3600 s → lab is
    // in overage (README: "in overage when beyond a limit that is not a hard cap"), 0.000000000277… h over,
    // rounded to 0 → 0 owed — judged on the exact counter as the overview judges it, not on the usage
    // rounded to 9 decimals (1.000000000, which would read "within").
    const r = await trpcQuery(call, 'revenue.whatIf', { meter_id: gpu.id, plan_name: 'pro', limit_value: '1', overage_price: '2', hard_cap: false });
    expect(r.customers_considered).toBe(1);
    expect(r.before).toMatchObject({ revenue: '0', customers_in_overage: 1 });
    // A hard cap at 1 hour: lab went past it, so lab would be capped — a status change from overage.
    const capped = await trpcQuery(call, 'revenue.whatIf', { meter_id: gpu.id, plan_name: 'pro', limit_value: '1', overage_price: '2', hard_cap: true });
    expect(capped).toMatchObject({ customers_newly_capped: 1, customers_no_longer_in_overage: 1 });
  });
});
