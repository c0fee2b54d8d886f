import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeStripe } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import type { TestServer } from './harness/server.js';
import { createLinkedMeter, LINKED_CALLS_METER, startServerWithFakeStripe } from './harness/stripe-linked.js';

/**
 * Customers and settings through the API at their edges: a longer late-event grace may not
 * reopen a period reported to a Stripe meter the meter has left, and email addresses are
 * judged as mail servers judge them (internationalized ones taken, impossible ones refused).
 */
const { url } = await useTestDatabase();
let clock = new Date('2026-10-25T12:00:00.000Z');
let server: TestServer;
let fake: FakeStripe;
beforeAll(async () => ({ server, fake } = await startServerWithFakeStripe(url, { now: () => clock })));
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

async function newCreator() {
  const { apiKey } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 100 }] });
  return call;
}

describe('late-event grace raised after a meter was re-linked to another Stripe meter', () => {
  it('does not reopen a period reported to the old Stripe meter so that its late usage goes to the new one (5 on calls, 3 on calls_v2)', async () => {
    // Given: s1 used 5 calls on 25 October, reported to the Stripe meter "calls"
    clock = new Date('2026-10-25T12:00:00.000Z');
    const c = await createLinkedMeter(server, fake, LINKED_CALLS_METER);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's1', value: 5, timestamp: '2026-10-25T10:00:00Z' })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ failed: 0 });
    expect(c.stripeTotal()).toBe('5');

    // On 5 November (October closed, the 24 h grace over) the meter is re-linked to "calls_v2":
    // accepted (README: refused only "while usage of a period still taking events was reported").
    clock = new Date('2026-11-05T12:00:00.000Z');
    const relinked = await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'calls_v2' });
    expect(relinked.status, relinked.text).toBe(200);
    expect((await c.call('POST', `/api/usage/meters/${c.meterId}/stripe-meter`)).status).toBe(200);

    // Then the creator raises the grace to 35 days: October — reported to "calls" — takes events again.
    const graced = await c.call('PUT', '/api/usage/settings', { late_event_grace_hours: 840 });
    if (graced.status === 409) return; // refusing, as the re-link itself would be refused now, is a correct answer
    expect(graced.status, graced.text).toBe(200);
    const late = await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's1', value: 3, timestamp: '2026-10-25T11:00:00Z' });
    expect(late.status, late.text).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ failed: 0 });

    // October's 8 calls must be on one Stripe meter (README, meter-stripe-link-fixed: "the new one would hold only the rest").
    const customer = fake.events.find((e) => e.account === c.account)!.customer;
    const onOld = fake.total({ account: c.account, eventName: 'calls', customer });
    const onNew = fake.total({ account: c.account, eventName: 'calls_v2', customer });
    expect(onOld === '8' || onNew === '8', `October: ${onOld} on "calls", ${onNew} on "calls_v2"`).toBe(true);
  });
});

describe('email addresses', () => {
  it('a valid address on an internationalized domain or TLD is accepted for a customer and as creator_email', async () => {
    clock = new Date('2026-10-25T12:00:00.000Z');
    const call = await newCreator();
    // RFC 5321/5890: an A-label TLD (".xn--p1ai", i.e. ".рф") is plain ASCII; IDN domains are valid
    // addresses (nodemailer sends them as punycode).
    for (const email of ['ada@example.xn--p1ai', 'ada@münchen.de']) {
      const customer = await call('PUT', `/api/usage/customers/${encodeURIComponent(email)}`, { email });
      expect(customer.status, `${email}: ${customer.text}`).toBe(201);
      expect(customer.json.email).toBe(email);
      const alerts = await call('PUT', '/api/usage/settings/alerts', { creator_email: email });
      expect(alerts.status, `${email}: ${alerts.text}`).toBe(200);
    }
  });

  it('an address no mail server can take (local part over 64 octets, a domain label over 63 or ending in "-") is refused 422', async () => {
    clock = new Date('2026-10-25T12:00:00.000Z');
    const call = await newCreator();
    for (const email of [`${'a'.repeat(65)}@example.com`, `ada@${'b'.repeat(64)}.com`, 'ada@example-.com']) {
      const customer = await call('PUT', '/api/usage/customers/u1', { email });
      expect(customer.status, `${email}: ${customer.text}`).toBe(422);
      const alerts = await call('PUT', '/api/usage/settings/alerts', { creator_email: email });
      expect(alerts.status, `${email}: ${alerts.text}`).toBe(422);
    }
  });
});
