import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { createLinkedMeter, syncToStripe, useServerWithFakeStripe } from './harness/stripe-linked.js';

/**
 * What Stripe is sent is what the customer is shown: period totals in the meter's unit,
 * rounded to 9 decimals (ADR 0009), each meter event a value Stripe takes (at most 15
 * significant digits), and reconciliation finds Stripe in sync.
 */
const { url } = await useTestDatabase();
const { server, fake } = useServerWithFakeStripe(url);

async function trackAndSync(c: Awaited<ReturnType<typeof createLinkedMeter>>, event: Record<string, unknown>) {
  const tracked = await c.call('POST', '/api/usage/track', { user_id: 's1', ...event });
  expect(tracked.status, tracked.text).toBe(201);
  await syncToStripe(c.call);
}

const significantDigits = (value: string) => value.replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;

describe('quantities reported to Stripe', () => {
  it('a minutes meter: two 100 s events → Stripe holds the used minutes shown, reconciliation in sync', async () => {
    // Given a duration meter in minutes (1 included, 0.5 per minute beyond) linked to Stripe
    const c = await createLinkedMeter(server(), fake(), {
      event_name: 'watch',
      display_name: 'Watch time',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'ov', limit_value: 1, overage_price: 0.5 }],
    });
    // When the customer watches 100 s, we sync, watches 100 s more, and we sync again
    await trackAndSync(c, { event_name: 'watch', value: 100 });
    await trackAndSync(c, { event_name: 'watch', value: 100 });

    // Then Stripe holds exactly the minutes the usage endpoint shows
    const usage = await c.call('GET', '/api/usage/customers/s1/usage');
    const watch = usage.json.meters[0];
    expect(watch).toMatchObject({ used: '3.333333333', overage_quantity: '2.333333333' });
    expect(c.sent()).toEqual(['1.666666667', '1.666666666']);
    expect(c.stripeTotal()).toBe(watch.used);

    // And reconciliation agrees, and the status page shows the same figures
    const reconciled = await c.call('POST', '/api/usage/billing/reconcile');
    expect(reconciled.json).toMatchObject({ pairs: 1, in_sync: 1, drifting: 0, over_reported: 0, compensated: 0 });
    const status = await c.call('GET', '/api/usage/billing/status');
    expect(status.json.rows).toEqual([
      expect.objectContaining({ quantity: '3.333333333', reported_quantity: '3.333333333', stripe_quantity: '3.333333333', drift: '0', status: 'in_sync', last_error: null }),
    ]);
    // A sync with nothing new sends nothing.
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ reported: 0, up_to_date: 1 });
    expect(c.sent()).toHaveLength(2);
  });

  it('an hours meter whose total has more than 15 significant digits reaches Stripe in pieces Stripe takes, summing to the total', async () => {
    const c = await createLinkedMeter(server(), fake(), {
      event_name: 'compute',
      display_name: 'Compute',
      aggregation_type: 'duration',
      unit_name: 'hours',
      plan_limits: [{ plan_name: 'ov', limit_value: 10, overage_price: 2 }],
    });
    // 4,444,444,444.444 s = 1,234,567.901234444… h: shown as 1234567.901234444 (16 significant digits)
    await trackAndSync(c, { event_name: 'compute', value: '4444444444.444' });
    const used = (await c.call('GET', '/api/usage/customers/s1/usage')).json.meters[0].used as string;
    expect(used).toBe('1234567.901234444');
    expect(c.sent()).toEqual(['1234567.90123444', '0.000000004']);
    for (const value of c.sent()) expect(significantDigits(value), value).toBeLessThanOrEqual(15);
    expect(c.stripeTotal()).toBe(used);
    expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ in_sync: 1, drifting: 0 });
    expect((await c.call('GET', '/api/usage/billing/status')).json.rows).toEqual([expect.objectContaining({ quantity: used, reported_quantity: used, status: 'in_sync' })]);
  });

  it('a lost total of more than 15 significant digits is compensated in pieces Stripe takes, one reconciliation after the other', async () => {
    const c = await createLinkedMeter(server(), fake(), {
      event_name: 'render',
      display_name: 'Render',
      aggregation_type: 'duration',
      unit_name: 'hours',
      plan_limits: [{ plan_name: 'ov', limit_value: 10, overage_price: 2 }],
    });
    await trackAndSync(c, { event_name: 'render', value: '4444444444.444' });
    const used = '1234567.901234444';
    expect(c.stripeTotal()).toBe(used);
    // Given Stripe loses both pieces of the report: 1234567.901234444 h missing (16 digits)
    for (const e of fake().events.filter((e) => e.account === c.account)) fake().loseEvent({ account: c.account, identifier: e.identifier });
    expect(c.stripeTotal()).toBe('0');
    // When reconciliation runs: it sends what Stripe takes, and says the rest is still missing
    const first = await c.call('POST', '/api/usage/billing/reconcile');
    expect(first.json, first.text).toMatchObject({ drifting: 1, compensated: 1, errors: 0 });
    expect(c.stripeTotal()).toBe('1234567.90123444');
    expect((await c.call('GET', '/api/usage/billing/status')).json.rows).toEqual([expect.objectContaining({ drift: '-0.000000004', status: 'drifting' })]);
    // Then the next run sends the rest, and Stripe holds the total shown to the customer
    expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ drifting: 1, compensated: 1, errors: 0 });
    expect(c.stripeTotal()).toBe(used);
    expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ in_sync: 1, drifting: 0, compensated: 0 });
    for (const value of c.sent()) expect(significantDigits(value), value).toBeLessThanOrEqual(15);
  });
});
