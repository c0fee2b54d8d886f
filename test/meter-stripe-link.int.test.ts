import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { createLinkedMeter, LINKED_CALLS_METER, syncToStripe, useServerWithFakeStripe } from './harness/stripe-linked.js';

const { url } = await useTestDatabase();
const { server, fake } = useServerWithFakeStripe(url);

describe('re-linking a meter to another Stripe meter after part of the period was reported', () => {
  it('a PATCH of stripe_meter_event_name mid-period either refuses the change (409) or brings the newly linked Stripe meter to the period total', async () => {
    const c = await createLinkedMeter(server(), fake(), LINKED_CALLS_METER);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's1', value: 5 })).status).toBe(201);
    await syncToStripe(c.call);
    expect(c.stripeTotal()).toBe('5');

    const relinked = await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'calls_v2' });
    if (relinked.status === 409) return; // refusing is a correct answer
    expect(relinked.status, relinked.text).toBe(200);
    const created = await c.call('POST', `/api/usage/meters/${c.meterId}/stripe-meter`);
    expect(created.status, created.text).toBe(200);
    expect(created.json.stripe_meter_event_name).toBe('calls_v2');
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's1', value: 3 })).status).toBe(201);
    await syncToStripe(c.call);

    const usage = await c.call('GET', '/api/usage/customers/s1/usage');
    expect(usage.json.meters[0].used).toBe('8');
    const customer = fake().events.find((e) => e.account === c.account)!.customer;
    // Reconciliation and the status page do not notice: Stripe's calls_v2 holds 3, the old meter 5
    expect((await c.call('POST', '/api/usage/billing/reconcile')).status).toBe(200);
    const status = await c.call('GET', '/api/usage/billing/status');
    expect(status.json.rows[0]).toMatchObject({ quantity: '8', reported_quantity: '8' });
    // The Stripe meter this meter now reports to holds what the customer used this period
    expect(fake().total({ account: c.account, eventName: 'calls_v2', customer })).toBe('8');
  });
});
