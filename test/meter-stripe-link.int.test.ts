import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
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

describe('linking a meter while Stripe cannot be reached', () => {
  it('POST …/stripe-meter answers 503 stripe-unavailable with Retry-After (an outage to wait out), not 502 "Stripe refused" (a refusal to act on); nothing is linked', async () => {
    const { apiKey, creator } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    expect((await call('PUT', '/api/usage/settings/stripe', { secret_key: `sk_test_d${creator.id.replace(/-/g, '')}` })).status).toBe(200);
    const created = await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    expect(created.status, created.text).toBe(201);
    fake().inject({ kind: 'down', pathPrefix: '/v1/billing/meters' });
    try {
      const linked = await call('POST', `/api/usage/meters/${created.json.id}/stripe-meter`);
      expect({ status: linked.status, type: linked.json.type, retryAfter: linked.headers.get('retry-after') }, linked.text).toEqual({
        status: 503,
        type: expect.stringContaining('/stripe-unavailable'),
        retryAfter: '5',
      });
    } finally {
      fake().clearFaults();
    }
    const meter = await call('GET', `/api/usage/meters/${created.json.id}`);
    expect(meter.json).toMatchObject({ stripe_meter_event_name: null, stripe_meter_id: null });
    // Once Stripe answers again, the same call links it.
    expect((await call('POST', `/api/usage/meters/${created.json.id}/stripe-meter`)).status).toBe(200);
  });
});
