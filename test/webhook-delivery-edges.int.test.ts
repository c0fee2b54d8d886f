import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertAlertsOnce } from '../db/queries/alerts.js';
import { findCustomerByUserId } from '../db/queries/customers.js';
import { withCreator } from '../db/tenant.js';
import { notifyAlert } from '../server/services/notifications.js';
import { safePost } from '../server/services/ssrf.js';
import { WEBHOOK_RETRY } from '../server/services/webhooks.js';
import { startWebhookReceiver, type WebhookReceiver } from './fakes/webhook-receiver.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { eventually } from './harness/wait.js';

const { url } = await useTestDatabase();
let offsetMs = 0;
const clock = () => new Date(Date.now() + offsetMs);
const HOUR = 3_600_000;
const DEFAULT_RETRY = structuredClone(WEBHOOK_RETRY);
let server: TestServer;
let strict: TestServer;
let receiver: WebhookReceiver;

beforeAll(async () => {
  server = await startTestServer(url, { workers: true, now: clock, env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'true', WEBHOOK_TIMEOUT_MS: '3000' } });
  strict = await startTestServer(url, { env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'false' } });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await strict?.close();
  await server?.close();
});
afterEach(() => {
  offsetMs = 0;
  Object.assign(WEBHOOK_RETRY, structuredClone(DEFAULT_RETRY));
});

const EVENTS = ['usage.soft_limit_reached', 'usage.hard_limit_reached', 'usage.overage_started', 'usage.threshold_reached'];

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  return { call: api(server.url, apiKey), creatorId: creator.id, apiKey, email: creator.email };
}
type Call = Awaited<ReturnType<typeof creator>>['call'];

async function receiverEndpoint(call: Call, target: WebhookReceiver, events = EVENTS) {
  const path = `/hooks/${randomBytes(4).toString('hex')}`;
  const r = await call('POST', '/api/usage/webhooks', { url: target.url + path, events });
  expect(r.status, r.text).toBe(201);
  target.setSecret(r.json.secret, path);
  return { ...(r.json as { id: string; secret: string }), path };
}

async function messagesOf(endpointId: string) {
  return server.rt.ownerDb.execute<{ message_id: string; status: string; attempts: number }>(
    sql`select message_id, status, attempts from webhook_messages where endpoint_id = ${endpointId} order by created_at`,
  );
}

/** A meter on a 1,000-call plan, a customer, and an alert recorded now (by the runtime clock), not yet notified. */
async function recordedAlert(call: Call, creatorId: string, kind: 'overage_started' | 'soft_limit_reached' = 'overage_started') {
  const eventName = `calls_${randomBytes(3).toString('hex')}`;
  const meter = await call('POST', '/api/usage/meters', { event_name: eventName, aggregation_type: 'count', display_name: 'API calls', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 1000, soft_limit_threshold: 0.8 }] });
  expect(meter.status, meter.text).toBe(201);
  const userId = `cust_${randomBytes(3).toString('hex')}`;
  expect((await call('PUT', `/api/usage/customers/${userId}`, { plan_name: 'pro' })).status).toBe(201);
  const rt = server.rt;
  return withCreator(rt.db, creatorId, async (tx) => {
    const customer = (await findCustomerByUserId(tx, userId))!;
    const [alert] = await insertAlertsOnce(
      tx,
      [{ creatorId, meterId: meter.json.id, customerId: customer.id, kind, threshold: '1', periodStart: new Date('2026-11-01T00:00:00Z'), periodEnd: new Date('2026-12-01T00:00:00Z'), used: '1001', limitValue: '1000' }],
      rt.now(),
    );
    return alert!;
  });
}

describe('webhook deliveries: the event time, subscriptions, loopback names, several addresses, a bounded lookup', () => {
  it('the payload timestamp is when the alert happened (its created_at), not when a worker got round to notifying it', async () => {
    const { call, creatorId } = await creator();
    const endpoint = await receiverEndpoint(call, receiver);
    const alert = await recordedAlert(call, creatorId);
    // The workers notify an hour after the crossing (a backlog, a worker process that was down).
    offsetMs = HOUR;
    await notifyAlert(server.rt, creatorId, alert.id);
    const [delivery] = (await receiver.waitFor((r) => r.some((d) => d.path === endpoint.path && d.status === 200))).filter((d) => d.path === endpoint.path);
    expect(delivery!.verified).toBe(true);
    const view = await call('GET', `/api/usage/alerts/${alert.id}`);
    expect(view.status).toBe(200);
    // Standard Webhooks: "timestamp" is when the event occurred, not when it was sent.
    expect(delivery!.body.timestamp).toBe(view.json.created_at);
  });

  it('a retry of an event type the endpoint has since unsubscribed from is not delivered', async () => {
    Object.assign(WEBHOOK_RETRY, { delaysMs: [1000], jitter: 0 });
    const flaky = await startWebhookReceiver();
    try {
      const { call, creatorId } = await creator();
      const endpoint = await receiverEndpoint(call, flaky, ['usage.overage_started']);
      flaky.failWith(503, 1);
      const alert = await recordedAlert(call, creatorId);
      await notifyAlert(server.rt, creatorId, alert.id);
      await flaky.waitFor((r) => r.length === 1);
      // The creator stops listening to overage events while the first attempt's retry is pending.
      const patched = await call('PATCH', `/api/usage/webhooks/${endpoint.id}`, { events: ['usage.hard_limit_reached'] });
      expect(patched.status).toBe(200);
      await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.status !== 'pending', 15_000).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
      expect(flaky.received.filter((r) => r.status === 200).map((r) => r.body?.type)).toEqual([]);
      expect((await messagesOf(endpoint.id)).map((m) => m.status)).toEqual(['failed']);
    } finally {
      await flaky.close();
    }
  });

  it('refuses localhost names (trailing-dot localhost., *.localhost) as loopback, as it refuses localhost', async () => {
    const { apiKey } = await creator();
    const call = api(strict.url, apiKey);
    for (const hook of ['http://localhost./hook', 'http://app.localhost/hook']) {
      const response = await call('POST', '/api/usage/webhooks', { url: hook, events: EVENTS });
      expect(response.status, `${hook} → ${response.text}`).toBe(422);
    }
  });

  it('delivers to a host with several vetted addresses when the first one does not answer (dual-stack / multi-A)', async () => {
    // A name with an AAAA record first (no IPv6 route / nothing there) and an A record where the receiver listens.
    const result = await safePost(new URL(`http://hooks.dual.example:${receiver.port}/dual`), '{}', {
      allowPrivate: true,
      timeoutMs: 2000,
      headers: { 'content-type': 'application/json' },
      resolve: async () => [
        { address: '::1', family: 6 },
        { address: '127.0.0.1', family: 4 },
      ],
    });
    expect(result, JSON.stringify(result)).toMatchObject({ statusCode: 200, error: null });
  });

  it('an attempt takes at most WEBHOOK_TIMEOUT_MS, DNS resolution included', async () => {
    const timeoutMs = 500;
    const started = Date.now();
    const result = await safePost(new URL(`http://slow-dns.example:${receiver.port}/slow`), '{}', {
      allowPrivate: true,
      timeoutMs,
      headers: { 'content-type': 'application/json' },
      // A resolver that hangs (unanswering name server): getaddrinfo has no deadline of ours.
      resolve: () => new Promise((resolve) => setTimeout(() => resolve([{ address: '127.0.0.1', family: 4 }]), 3_000)),
    });
    const elapsed = Date.now() - started;
    expect(elapsed, JSON.stringify(result)).toBeLessThan(timeoutMs + 1_000);
    expect(result).toMatchObject({ statusCode: null, error: expect.stringContaining('no answer within 500 ms') });
  });
});
