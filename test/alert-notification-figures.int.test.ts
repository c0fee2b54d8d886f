/**
 * What alert notifications say. Each webhook body and each email (to the creator,
 * and to the customer with email_customers on) is compared with GET /api/usage/alerts and
 * GET /api/usage/customers/{user_id}/usage at that moment: same decimal strings, same
 * units, same period, one alert per meter × customer × period × kind.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSmtpServer, type CapturedMail } from './fakes/smtp-server.js';
import { startWebhookReceiver, type ReceivedWebhook } from './fakes/webhook-receiver.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, uniqueEmail } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { eventually } from './harness/wait.js';

const smtp = await startFakeSmtpServer();
const receiver = await startWebhookReceiver();
const { url } = await useTestDatabase();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(url, {
    workers: true,
    env: { SMTP_URL: smtp.url, ALLOW_PRIVATE_WEBHOOK_URLS: 'true', PUBLIC_URL: 'https://usage.example.com', WEBHOOK_TIMEOUT_MS: '3000' },
  });
});
afterAll(async () => {
  await server?.close();
  await receiver.close();
  await smtp.close();
});

type Call = ReturnType<typeof api>;
const EVENTS = ['usage.soft_limit_reached', 'usage.hard_limit_reached', 'usage.overage_started', 'usage.threshold_reached'];

/** A creator with a signed webhook endpoint on every alert event, an alert address, and customer emails on. */
async function tenant() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  const path = `/hooks/${randomBytes(4).toString('hex')}`;
  const endpoint = await call('POST', '/api/usage/webhooks', { url: receiver.url + path, events: EVENTS });
  expect(endpoint.status, endpoint.text).toBe(201);
  receiver.setSecret(endpoint.json.secret, path);
  const ops = uniqueEmail('ops');
  const settings = await call('PUT', '/api/usage/settings/alerts', { creator_email: ops, email_customers: true, upgrade_url: 'https://acme.example/pricing' });
  expect(settings.status, settings.text).toBe(200);
  return { call, path, ops, creatorName: creator.name };
}
type Tenant = Awaited<ReturnType<typeof tenant>>;

async function meter(call: Call, body: Record<string, unknown>) {
  const res = await call('POST', '/api/usage/meters', { display_name: 'Meter', ...body });
  expect(res.status, res.text).toBe(201);
  return res.json as { id: string; event_name: string };
}

async function customer(call: Call, userId: string, body: Record<string, unknown>) {
  const res = await call('PUT', `/api/usage/customers/${userId}`, body);
  expect([200, 201], res.text).toContain(res.status);
}

async function track(call: Call, body: unknown) {
  const res = await call('POST', '/api/usage/track', body);
  expect([200, 201, 402], res.text).toContain(res.status);
  return res;
}

async function alerts(call: Call, query = '') {
  const res = await call('GET', `/api/usage/alerts${query}`);
  expect(res.status, res.text).toBe(200);
  return res.json.alerts as Array<Record<string, any>>;
}

async function usageOf(call: Call, userId: string, meterId: string) {
  const res = await call('GET', `/api/usage/customers/${userId}/usage`);
  expect(res.status, res.text).toBe(200);
  return { period_start: res.json.period_start, period_end: res.json.period_end, ...res.json.meters.find((m: any) => m.meter_id === meterId) } as Record<string, string>;
}

const hooksOf = (t: Tenant, userId: string) => receiver.received.filter((r) => r.path === t.path && r.verified && r.body?.data?.user_id === userId);
const mailsTo = (address: string) => smtp.messages.filter((m) => m.envelopeTo.includes(address));

/**
 * Waits until every alert of this customer has been delivered: one webhook each, one email
 * to the creator each, and (with an address) one to the customer each. Returns them.
 */
async function delivered(t: Tenant, userId: string, customerEmail: string | null, expectedAlerts: number) {
  const list = await eventually(
    () => alerts(t.call, `?user_id=${userId}`),
    (a) => a.length >= expectedAlerts,
  );
  expect(list.length, JSON.stringify(list)).toBe(expectedAlerts);
  const ids = new Set(list.map((a) => a.id));
  const forCustomer = (m: CapturedMail) => ids.has(String(m.headers.get('x-staryer-alert-id')));
  await eventually(
    () => ({ hooks: hooksOf(t, userId).length, creator: mailsTo(t.ops).filter(forCustomer).length, customer: customerEmail ? mailsTo(customerEmail).length : 0 }),
    (n) => n.hooks >= expectedAlerts && n.creator >= expectedAlerts && n.customer >= (customerEmail ? expectedAlerts : 0),
    15_000,
  );
  const byAlert = (a: Record<string, any>) => ({
    alert: a,
    hook: hooksOf(t, userId).find((h) => h.body.type === `usage.${a.kind}` && h.body.data.threshold === a.threshold) as ReceivedWebhook,
    creatorMail: mailsTo(t.ops).find((m) => m.headers.get('x-staryer-alert-id') === a.id) as CapturedMail,
    customerMail: customerEmail ? (mailsTo(customerEmail).find((m) => m.headers.get('x-staryer-alert-id') === a.id) as CapturedMail) : undefined,
  });
  return list.map(byAlert);
}

/** The webhook body says what GET /api/usage/alerts says of the same alert. */
function expectHookMatchesAlert(hook: ReceivedWebhook, alert: Record<string, any>) {
  expect(hook.body).toEqual({
    type: `usage.${alert.kind}`,
    timestamp: alert.created_at,
    data: {
      user_id: alert.user_id,
      meter_id: alert.meter_id,
      event_name: alert.event_name,
      used: alert.used,
      limit: alert.limit,
      threshold: alert.threshold,
      period_start: alert.period_start,
      period_end: alert.period_end,
    },
  });
}

describe('what alert notifications say', () => {
  it('sum meter in GB, limit 10.125, soft limit 0.12345: the email states the soft limit the creator set (12.345 %), as the webhook does (0.12345)', async () => {
    const t = await tenant();
    const m = await meter(t.call, {
      event_name: 'storage',
      display_name: 'Storage',
      aggregation_type: 'sum',
      unit_name: 'GB',
      plan_limits: [{ plan_name: 'pro', limit_value: '10.125', soft_limit_threshold: '0.12345', overage_price: '0.5' }],
    });
    const email = uniqueEmail('cust');
    await customer(t.call, 'u_gb', { plan_name: 'pro', email, name: 'Ada' });
    // 10.125 × 0.12345 = 1.24993125 GB: 1.25 GB crosses it
    expect((await track(t.call, { event_name: 'storage', user_id: 'u_gb', value: '1.25' })).status).toBe(201);
    const [soft] = await delivered(t, 'u_gb', email, 1);
    const usage = await usageOf(t.call, 'u_gb', m.id);
    expect(soft!.alert).toMatchObject({ kind: 'soft_limit_reached', used: usage.used, limit: usage.limit, threshold: '0.12345', period_start: usage.period_start, period_end: usage.period_end });
    expectHookMatchesAlert(soft!.hook, soft!.alert);

    // The figures hold: 1.25 of 10.125 GB
    expect(soft!.creatorMail.text).toContain('1.25 of 10.125 GB');
    expect(soft!.customerMail!.text).toContain('1.25 of 10.125 GB');
    // The soft limit is 12.345 % of the limit, not 12.3 %: the webhook says 0.12345, the email must not state another threshold
    expect(soft!.creatorMail.text).toContain('passing the 12.345% soft limit');
    expect(soft!.creatorMail.text).toContain('soft limit reached (12.345% of the limit)');
  });

  it('a custom alert threshold of 0.0005 (0.05 %): the email does not call it a 0% threshold', async () => {
    const t = await tenant();
    await meter(t.call, {
      event_name: 'storage',
      display_name: 'Storage',
      aggregation_type: 'sum',
      unit_name: 'GB',
      alert_thresholds: ['0.0005'],
      plan_limits: [{ plan_name: 'pro', limit_value: '10000' }],
    });
    await customer(t.call, 'u_th', { plan_name: 'pro' });
    // 0.0005 × 10,000 = 5 GB
    expect((await track(t.call, { event_name: 'storage', user_id: 'u_th', value: 5 })).status).toBe(201);
    const [th] = await delivered(t, 'u_th', null, 1);
    expect(th!.alert).toMatchObject({ kind: 'threshold_reached', threshold: '0.0005', used: '5', limit: '10000' });
    expectHookMatchesAlert(th!.hook, th!.alert);
    const summary = th!.creatorMail.text.split('\n')[2];
    expect(summary).not.toContain('the 0% alert threshold');
    expect(summary).toContain('crossing the 0.05% alert threshold');
  });

  it('overage on a GB meter (10.126 of 10.125): the email does not put the customer "at 100%" of the limit they have passed', async () => {
    const t = await tenant();
    const m = await meter(t.call, { event_name: 'storage', display_name: 'Storage', aggregation_type: 'sum', unit_name: 'GB', plan_limits: [{ plan_name: 'pro', limit_value: '10.125', overage_price: '0.5' }] });
    const email = uniqueEmail('cust');
    await customer(t.call, 'u_over', { plan_name: 'pro', email });
    expect((await track(t.call, { event_name: 'storage', user_id: 'u_over', value: '10.126' })).status).toBe(201);
    const [over] = await delivered(t, 'u_over', email, 1);
    const usage = await usageOf(t.call, 'u_over', m.id);
    expect(usage).toMatchObject({ used: '10.126', limit: '10.125', overage_quantity: '0.001' });
    expect(over!.alert).toMatchObject({ kind: 'overage_started', used: '10.126', limit: '10.125' });
    expectHookMatchesAlert(over!.hook, over!.alert);
    expect(over!.creatorMail.text).toContain('10.126 of 10.125 GB');
    // 10.126 / 10.125 = 100.0098…%: past the limit, so the percentage shown must be above 100
    const shown = [over!.creatorMail.subject, over!.creatorMail.text.split('\n')[2], over!.customerMail!.text.split('\n')[2]];
    for (const line of shown) expect(line).not.toMatch(/\b100(\.0)?%/);
  });

  it('duration meter in minutes without a hard cap: overage_started is not announced while the usage answer shows usage at the limit and no overage', async () => {
    const t = await tenant();
    const m = await meter(t.call, {
      event_name: 'transcode',
      display_name: 'Transcoding',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: '2' }],
    });
    const email = uniqueEmail('cust');
    await customer(t.call, 'u_min', { plan_name: 'pro', email });
    // One minute exactly, then a nanosecond more (a performance.now() duration rounded to 9 places)
    expect((await track(t.call, { event_name: 'transcode', user_id: 'u_min', value: 60 })).status).toBe(201);
    const last = await track(t.call, { event_name: 'transcode', user_id: 'u_min', value: '0.000000001' });
    expect(last.status).toBe(201);
    const usage = await usageOf(t.call, 'u_min', m.id);
    // The API's position: 1 of 1 minutes, nothing beyond the limit, nothing billed
    expect(usage).toMatchObject({ used: '1', limit: '1', remaining: '0', overage_quantity: '0', overage_amount: '0' });
    expect(last.json.usage).toMatchObject({ used: '1', limit: '1', remaining: '0' });

    const list = await eventually(
      () => alerts(t.call, '?user_id=u_min'),
      () => true,
    );
    // Wait for anything raised to be delivered before judging
    const raised = list.length ? await delivered(t, 'u_min', email, list.length) : [];
    const overage = raised.find((r) => r.alert.kind === 'overage_started');
    // A customer told "you are over your limit … billed as overage" while the usage answer (and Stripe) says 1 of 1 minutes, 0 overage
    expect(
      overage && {
        type: overage.hook.body.type,
        used: overage.hook.body.data.used,
        limit: overage.hook.body.data.limit,
        customerSubject: overage.customerMail!.subject,
        creatorText: overage.creatorMail.text.split('\n')[2],
      },
    ).toBeUndefined();
  });

  it('a hard cap on a customer whose billing period ends at 09:30:45: the email says when usage is unblocked as the API does (to the second)', async () => {
    const t = await tenant();
    const m = await meter(t.call, {
      event_name: 'api_calls',
      display_name: 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'free', limit_value: 2, hard_cap: true }],
    });
    const email = uniqueEmail('cust');
    // A Stripe-style anchor: subscription created at 09:30:45
    await customer(t.call, 'u_anchor', { plan_name: 'free', email, billing_anchor: '2025-01-15T09:30:45Z' });
    await track(t.call, [
      { event_name: 'api_calls', user_id: 'u_anchor' },
      { event_name: 'api_calls', user_id: 'u_anchor' },
    ]);
    const refused = await track(t.call, { event_name: 'api_calls', user_id: 'u_anchor' });
    expect(refused.status).toBe(402);
    const [hard] = await delivered(t, 'u_anchor', email, 1);
    const usage = await usageOf(t.call, 'u_anchor', m.id);
    expect(hard!.alert).toMatchObject({ kind: 'hard_limit_reached', used: '2', limit: '2', period_end: usage.period_end });
    expectHookMatchesAlert(hard!.hook, hard!.alert);
    expect(usage.period_end).toMatch(/T09:30:45\.000Z$/);
    expect(refused.json.period_end).toBe(usage.period_end);
    // The customer is refused until 09:30:45 — an email saying "blocked until … 09:30 UTC" sends them back 45 s too early
    const end = usage.period_end!.slice(0, 19).replace('T', ' ');
    expect(hard!.customerMail!.text).toContain(`Further usage is blocked until ${end}`);
    expect(hard!.creatorMail.text).toContain(`until the period ends on ${end}`);
  });
});

describe('what held up (passing checks of the same comparisons)', () => {
  it('count meter, limit 0 without a hard cap: the first call raises one overage_started with used 1 of 0, no percentage', async () => {
    const t = await tenant();
    const m = await meter(t.call, { event_name: 'calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'zero', limit_value: 0, overage_price: '0.01', soft_limit_threshold: 0.8 }] });
    const email = uniqueEmail('cust');
    await customer(t.call, 'u0', { plan_name: 'zero', email });
    await track(t.call, { event_name: 'calls', user_id: 'u0' });
    await track(t.call, [{ event_name: 'calls', user_id: 'u0' }, { event_name: 'calls', user_id: 'u0' }]);
    const [over] = await delivered(t, 'u0', email, 1);
    const usage = await usageOf(t.call, 'u0', m.id);
    expect(usage).toMatchObject({ used: '3', limit: '0', overage_quantity: '3', overage_amount: '0.03' });
    expect(over!.alert).toMatchObject({ kind: 'overage_started', used: '1', limit: '0', threshold: '1' });
    expectHookMatchesAlert(over!.hook, over!.alert);
    expect(over!.creatorMail.subject).toBe('Overage started: u0 on API calls');
    expect(over!.creatorMail.text).toContain('1 of 0 calls');
    expect(over!.creatorMail.text).toMatch(/Usage: +–/);
    expect(over!.customerMail!.subject).toContain('You are over your API calls limit');
  });

  it('count meter, limit 0 with a hard cap: the refused call raises one hard_limit_reached at 0 of 0', async () => {
    const t = await tenant();
    await meter(t.call, { event_name: 'calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'zero', limit_value: 0, hard_cap: true }] });
    await customer(t.call, 'u0h', { plan_name: 'zero' });
    expect((await track(t.call, { event_name: 'calls', user_id: 'u0h' })).status).toBe(402);
    expect((await track(t.call, { event_name: 'calls', user_id: 'u0h' })).status).toBe(402);
    const [hard] = await delivered(t, 'u0h', null, 1);
    expect(hard!.alert).toMatchObject({ kind: 'hard_limit_reached', used: '0', limit: '0' });
    expectHookMatchesAlert(hard!.hook, hard!.alert);
    expect(hard!.creatorMail.text).toContain('(0 of 0 calls)');
  });

  it('unlimited plans never alert', async () => {
    const t = await tenant();
    const m = await meter(t.call, { event_name: 'calls', aggregation_type: 'count', unit_name: 'calls', alert_thresholds: [0.5], plan_limits: [{ plan_name: 'unl', limit_value: null, soft_limit_threshold: 0.8 }] });
    await customer(t.call, 'uu', { plan_name: 'unl' });
    await track(t.call, Array.from({ length: 50 }, () => ({ event_name: 'calls', user_id: 'uu' })));
    expect((await usageOf(t.call, 'uu', m.id)).limit).toBeNull();
    expect(await alerts(t.call)).toEqual([]);
  });

  it('duration meter in hours: soft and overage figures are the usage answer’s, converted and rounded as it is', async () => {
    const t = await tenant();
    const m = await meter(t.call, { event_name: 'gpu', display_name: 'GPU', aggregation_type: 'duration', unit_name: 'hours', plan_limits: [{ plan_name: 'p', limit_value: '0.5', soft_limit_threshold: 0.8, overage_price: 3 }] });
    const email = uniqueEmail('cust');
    await customer(t.call, 'uh', { plan_name: 'p', email });
    const first = await track(t.call, { event_name: 'gpu', user_id: 'uh', value: 1440 });
    const soft = (await delivered(t, 'uh', email, 1))[0]!;
    expect(soft.alert).toMatchObject({ kind: 'soft_limit_reached', used: first.json.usage.used, limit: '0.5', threshold: '0.8' });
    expect(first.json.usage.used).toBe('0.4');
    expectHookMatchesAlert(soft.hook, soft.alert);
    expect(soft.creatorMail.text).toContain('0.4 of 0.5 hours');
    const second = await track(t.call, { event_name: 'gpu', user_id: 'uh', value: 400 });
    const all = await delivered(t, 'uh', email, 2);
    const over = all.find((a) => a.alert.kind === 'overage_started')!;
    const usage = await usageOf(t.call, 'uh', m.id);
    expect(second.json.usage.used).toBe('0.511111111');
    expect(over.alert).toMatchObject({ used: usage.used, limit: usage.limit, period_start: usage.period_start, period_end: usage.period_end });
    expectHookMatchesAlert(over.hook, over.alert);
    expect(over.creatorMail.text).toContain('0.511111111 of 0.5 hours');
    expect(over.customerMail!.text).toContain('0.511111111 of 0.5 hours');
  });

  it('unique meter with custom thresholds, batch: each threshold alerted once with the usage at its crossing', async () => {
    const t = await tenant();
    await meter(t.call, { event_name: 'seats', display_name: 'Seats', aggregation_type: 'unique', unit_name: 'users', unique_property: 'uid', alert_thresholds: [0.5, 1.5], plan_limits: [{ plan_name: 'p', limit_value: 4, overage_price: 1 }] });
    await customer(t.call, 'uq', { plan_name: 'p' });
    const ev = (uid: string) => ({ event_name: 'seats', user_id: 'uq', properties: { uid } });
    await track(t.call, [ev('a'), ev('b'), ev('a'), ev('c'), ev('d'), ev('e'), ev('f')]);
    const all = await delivered(t, 'uq', null, 3);
    const view = all.map((a) => [a.alert.kind, a.alert.threshold, a.alert.used, a.hook.body.data.used]).sort();
    expect(view).toEqual([
      ['overage_started', '1', '5', '5'],
      ['threshold_reached', '1.5', '6', '6'],
      ['threshold_reached', '0.5', '2', '2'],
    ].sort());
  });

  it('a move to a smaller plan mid-period raises soft and overage once, with the new limit; moving back and crossing again raises nothing more', async () => {
    const t = await tenant();
    const m = await meter(t.call, {
      event_name: 'calls',
      display_name: 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'big', limit_value: 100, soft_limit_threshold: 0.8, overage_price: 1 },
        { plan_name: 'small', limit_value: 10, soft_limit_threshold: 0.8, overage_price: 1 },
      ],
    });
    const email = uniqueEmail('cust');
    await customer(t.call, 'upc', { plan_name: 'big', email });
    await track(t.call, Array.from({ length: 50 }, () => ({ event_name: 'calls', user_id: 'upc' })));
    expect(await alerts(t.call)).toEqual([]);
    await customer(t.call, 'upc', { plan_name: 'small' });
    const two = await delivered(t, 'upc', email, 2);
    const usage = await usageOf(t.call, 'upc', m.id);
    for (const a of two) {
      expect(a.alert).toMatchObject({ used: '50', limit: '10' });
      expect([a.alert.used, a.alert.limit]).toEqual([usage.used, usage.limit]);
      expectHookMatchesAlert(a.hook, a.alert);
    }
    expect(two.map((a) => a.alert.kind).sort()).toEqual(['overage_started', 'soft_limit_reached']);
    await customer(t.call, 'upc', { plan_name: 'big' });
    await track(t.call, Array.from({ length: 60 }, () => ({ event_name: 'calls', user_id: 'upc' })));
    expect((await alerts(t.call, '?user_id=upc')).length).toBe(2);
  });

  it('a limit lowered mid-period (GB, 100 → 10.125) raises overage_started with the usage and the new limit', async () => {
    const t = await tenant();
    const m = await meter(t.call, { event_name: 'storage', display_name: 'Storage', aggregation_type: 'sum', unit_name: 'GB', plan_limits: [{ plan_name: 'p', limit_value: 100, overage_price: '0.1' }] });
    await customer(t.call, 'ul', { plan_name: 'p' });
    await track(t.call, { event_name: 'storage', user_id: 'ul', value: '20.5' });
    const patched = await t.call('PATCH', `/api/usage/meters/${m.id}`, { plan_limits: [{ plan_name: 'p', limit_value: '10.125', overage_price: '0.1' }] });
    expect(patched.status, patched.text).toBe(200);
    const [over] = await delivered(t, 'ul', null, 1);
    const usage = await usageOf(t.call, 'ul', m.id);
    expect(over!.alert).toMatchObject({ kind: 'overage_started', used: '20.5', limit: '10.125' });
    expect(usage).toMatchObject({ used: '20.5', limit: '10.125', overage_quantity: '10.375' });
    expectHookMatchesAlert(over!.hook, over!.alert);
    expect(over!.creatorMail.text).toContain('20.5 of 10.125 GB');
  });

  it('max meter with a hard cap: a far refusal alerts nothing, reaching the cap alerts once', async () => {
    const t = await tenant();
    await meter(t.call, { event_name: 'peak', display_name: 'Peak', aggregation_type: 'max', unit_name: 'GB', plan_limits: [{ plan_name: 'p', limit_value: '100.4', soft_limit_threshold: 0.5, hard_cap: true }] });
    await customer(t.call, 'um', { plan_name: 'p' });
    const r = await track(t.call, [
      { event_name: 'peak', user_id: 'um', value: 60 },
      { event_name: 'peak', user_id: 'um', value: 200 },
      { event_name: 'peak', user_id: 'um', value: '100.4' },
    ]);
    expect(r.json.results.map((x: any) => x.status)).toEqual([201, 402, 201]);
    const all = await delivered(t, 'um', null, 2);
    expect(all.map((a) => [a.alert.kind, a.alert.used, a.alert.limit]).sort()).toEqual([
      ['hard_limit_reached', '100.4', '100.4'],
      ['soft_limit_reached', '60', '100.4'],
    ]);
    for (const a of all) expectHookMatchesAlert(a.hook, a.alert);
    expect(all.find((a) => a.alert.kind === 'hard_limit_reached')!.creatorMail.text).toContain('(100.4 of 100.4 GB)');
  });
});
