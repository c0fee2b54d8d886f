import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { createLinkedMeter, syncToStripe, useServerWithFakeStripe } from './harness/stripe-linked.js';

/** Archiving a meter stops metering, not billing: usage recorded while it was live still reaches Stripe. */
const { url } = await useTestDatabase();
const { server, fake } = useServerWithFakeStripe(url);

describe('an archived meter', () => {
  it('usage tracked before the archive and not yet reported reaches Stripe in full', async () => {
    // Given a linked meter whose first 5 units are reported, and 3 more tracked since
    const c = await createLinkedMeter(server(), fake(), {
      event_name: 'storage',
      display_name: 'Storage',
      aggregation_type: 'sum',
      unit_name: 'gb',
      plan_limits: [{ plan_name: 'ov', limit_value: 1, overage_price: 0.5 }],
    });
    expect((await c.call('POST', '/api/usage/track', { event_name: 'storage', user_id: 's1', value: 5 })).status).toBe(201);
    await syncToStripe(c.call);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'storage', user_id: 's1', value: 3 })).status).toBe(201);

    // When the meter is archived, then usage is synced
    expect((await c.call('DELETE', `/api/usage/meters/${c.meterId}`)).status).toBe(200);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'storage', user_id: 's1', value: 1 })).status).toBe(422);
    expect(await syncToStripe(c.call)).toMatchObject({ pairs: 1, reported: 1 });

    // Then Stripe holds all 8, what the usage endpoint bills
    const usage = await c.call('GET', '/api/usage/customers/s1/usage');
    expect(usage.json.meters).toEqual([expect.objectContaining({ meter_id: c.meterId, used: '8', overage_amount: '3.5' })]);
    expect(c.sent()).toEqual(['5', '3']);
    expect(c.stripeTotal()).toBe('8');
    const status = await c.call('GET', '/api/usage/billing/status');
    expect(status.json.rows).toEqual([expect.objectContaining({ quantity: '8', reported_quantity: '8', status: 'in_sync' })]);
    // And nothing more is sent once it is all reported.
    expect(await syncToStripe(c.call)).toMatchObject({ reported: 0, up_to_date: 1 });
  });
});
