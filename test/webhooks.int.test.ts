import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertAlertsOnce } from '../db/queries/alerts.js';
import { insertMessagesOnce } from '../db/queries/webhooks.js';
import { findCreatorById } from '../db/queries/creators.js';
import { findCustomerByUserId } from '../db/queries/customers.js';
import { findMeter } from '../db/queries/meters.js';
import { ensureSettings } from '../db/queries/settings.js';
import type { AlertKind } from '../db/schema.js';
import { withCreator } from '../db/tenant.js';
import type { Runtime } from '../server/runtime.js';
import type { AlertContext } from '../server/services/alert-context.js';
import { createWebhookMessages, deliverWebhook, retryDelayMs, serializeWebhookPayload, WEBHOOK_RETRY } from '../server/services/webhooks.js';
import { CLAIM_MARGIN_MS } from '../server/services/claims.js';
import { startWebhookReceiver, type WebhookReceiver } from './fakes/webhook-receiver.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { eventually } from './harness/wait.js';

/**
 * Webhook endpoints over REST, and delivery to a real local receiver that checks every
 * signature with the standardwebhooks library. Time is driven through the runtime clock
 * (`offsetMs`) and a shortened retry schedule; nothing here sleeps for a real backoff.
 */

const { url } = await useTestDatabase();
let offsetMs = 0;
const clock = () => new Date(Date.now() + offsetMs);
const HOUR = 3_600_000;
const DEFAULT_RETRY = structuredClone(WEBHOOK_RETRY);

let server: TestServer;
/** Same database, ALLOW_PRIVATE_WEBHOOK_URLS off, no workers. */
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

type Call = ReturnType<typeof api>;

async function creator(target: TestServer = server) {
  const { apiKey, creator } = await createCreatorWithKey(target.rt);
  return { call: api(target.url, apiKey), creatorId: creator.id, apiKey, email: creator.email };
}

const EVENTS = ['usage.soft_limit_reached', 'usage.hard_limit_reached', 'usage.overage_started', 'usage.threshold_reached'];

async function createEndpoint(call: Call, body: Record<string, unknown>) {
  const response = await call('POST', '/api/usage/webhooks', body);
  expect(response.status, JSON.stringify(response.json)).toBe(201);
  return response.json as { id: string; secret: string; url: string; events: string[]; enabled: boolean };
}

/** An endpoint on the shared receiver at its own path, whose secret the receiver checks. */
async function receiverEndpoint(call: Call, target: WebhookReceiver = receiver, events = EVENTS) {
  const path = `/hooks/${randomBytes(4).toString('hex')}`;
  const endpoint = await createEndpoint(call, { url: target.url + path, events });
  target.setSecret(endpoint.secret, path);
  return { ...endpoint, path };
}

const PERIOD_START = new Date('2026-11-01T00:00:00.000Z');
const PERIOD_END = new Date('2026-12-01T00:00:00.000Z');

/** A meter, a customer on a 1,000-call plan and an alert, as the alerts.notify job loads them. */
async function alertContext(rt: Runtime, call: Call, creatorId: string, kind: AlertKind = 'soft_limit_reached'): Promise<AlertContext> {
  const eventName = `calls_${randomBytes(3).toString('hex')}`;
  const meter = await call('POST', '/api/usage/meters', {
    event_name: eventName,
    aggregation_type: 'count',
    display_name: 'API calls',
    unit_name: 'calls',
    plan_limits: [{ plan_name: 'pro', limit_value: 1000, soft_limit_threshold: 0.8 }],
  });
  expect(meter.status, JSON.stringify(meter.json)).toBe(201);
  const userId = `cust_${randomBytes(3).toString('hex')}`;
  expect((await call('PUT', `/api/usage/customers/${userId}`, { plan_name: 'pro' })).status).toBe(201);
  return withCreator(rt.db, creatorId, async (tx) => {
    const customer = (await findCustomerByUserId(tx, userId))!;
    const [alert] = await insertAlertsOnce(
      tx,
      [{ creatorId, meterId: meter.json.id, customerId: customer.id, kind, threshold: '0.8', periodStart: PERIOD_START, periodEnd: PERIOD_END, used: '800', limitValue: '1000' }],
      rt.now(),
    );
    return {
      alert: alert!,
      meter: (await findMeter(tx, meter.json.id))!,
      customer,
      settings: await ensureSettings(tx, creatorId),
      creator: (await findCreatorById(tx, creatorId))!,
    };
  });
}

/** What alerts.notify does for webhooks: messages in the caller's transaction. */
const notify = (rt: Runtime, ctx: AlertContext) => withCreator(rt.db, ctx.creator.id, (tx) => createWebhookMessages(rt, tx, ctx));

async function messagesOf(endpointId: string) {
  return server.rt.ownerDb.execute<{ message_id: string; status: string; attempts: number; alert_id: string | null; next_attempt_at: Date | null }>(
    sql`select message_id, status, attempts, alert_id, next_attempt_at from webhook_messages where endpoint_id = ${endpointId} order by created_at`,
  );
}

async function attemptsOf(messageId: string) {
  return server.rt.ownerDb.execute<{ status_code: number | null; error: string | null }>(
    sql`select status_code, error from webhook_attempts where message_id = ${messageId} order by attempted_at, attempt_id`,
  );
}

describe('webhook endpoints over REST', () => {
  it('creates an endpoint whose secret is shown once, then lists, reads, changes and deletes it', async () => {
    const { call } = await creator();
    const created = await createEndpoint(call, { url: 'https://hooks.example.com/staryer?team=1', events: ['usage.soft_limit_reached', 'usage.soft_limit_reached'] });
    expect(created).toMatchObject({ url: 'https://hooks.example.com/staryer?team=1', events: ['usage.soft_limit_reached'], enabled: true, disabled_reason: null });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(created.secret.slice('whsec_'.length), 'base64').length).toBeGreaterThanOrEqual(24);

    const list = await call('GET', '/api/usage/webhooks');
    expect(list.status).toBe(200);
    expect(list.json.webhooks).toHaveLength(1);
    const one = await call('GET', `/api/usage/webhooks/${created.id}`);
    expect(one.status).toBe(200);
    for (const body of [list.text, one.text]) {
      expect(body).not.toContain(created.secret);
      expect(body).not.toContain('"secret"');
    }
    const { secret: _secret, ...withoutSecret } = created;
    expect(one.json).toEqual(withoutSecret);

    const patched = await call('PATCH', `/api/usage/webhooks/${created.id}`, { events: ['usage.hard_limit_reached', 'usage.overage_started'], url: 'https://hooks.example.com/v2' });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ url: 'https://hooks.example.com/v2', events: ['usage.hard_limit_reached', 'usage.overage_started'], enabled: true });
    const disabled = await call('PATCH', `/api/usage/webhooks/${created.id}`, { enabled: false });
    expect(disabled.json).toMatchObject({ enabled: false, disabled_reason: expect.any(String) });
    const enabled = await call('PATCH', `/api/usage/webhooks/${created.id}`, { enabled: true });
    expect(enabled.json).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });

    // A read key lists and reads; only admin changes anything.
    const readKey = await call('POST', '/api/usage/keys', { name: 'reader', scopes: ['read'] });
    const reader = api(server.url, readKey.json.api_key);
    expect((await reader('GET', '/api/usage/webhooks')).status).toBe(200);
    expect((await reader('GET', `/api/usage/webhooks/${created.id}/deliveries`)).status).toBe(200);
    expect((await reader('POST', '/api/usage/webhooks', { url: 'https://x.example.com/', events: EVENTS })).status).toBe(403);
    expect((await reader('PATCH', `/api/usage/webhooks/${created.id}`, { enabled: false })).status).toBe(403);
    expect((await reader('DELETE', `/api/usage/webhooks/${created.id}`)).status).toBe(403);
    expect((await reader('POST', `/api/usage/webhooks/${created.id}/test`)).status).toBe(403);

    const deleted = await call('DELETE', `/api/usage/webhooks/${created.id}`);
    expect(deleted.status).toBe(204);
    expect((await call('GET', `/api/usage/webhooks/${created.id}`)).status).toBe(404);
    expect((await call('DELETE', `/api/usage/webhooks/${created.id}`)).status).toBe(404);
    expect((await call('GET', '/api/usage/webhooks')).json.webhooks).toEqual([]);
  });

  it('a read-only key sees each endpoint’s origin, not its path and query (often the receiver’s credential); an admin key sees it whole', async () => {
    const { call } = await creator();
    const created = await createEndpoint(call, { url: 'https://hooks.example.com/services/T0/B0/tokenXYZ?team=1', events: ['usage.overage_started'] });
    const readKey = await call('POST', '/api/usage/keys', { name: 'reader', scopes: ['read'] });
    expect(readKey.status, readKey.text).toBe(201);
    const reader = api(server.url, readKey.json.api_key);
    const list = await reader('GET', '/api/usage/webhooks');
    const one = await reader('GET', `/api/usage/webhooks/${created.id}`);
    expect(list.json.webhooks).toEqual([expect.objectContaining({ id: created.id, url: 'https://hooks.example.com/…', events: ['usage.overage_started'] })]);
    expect(one.json).toMatchObject({ id: created.id, url: 'https://hooks.example.com/…' });
    for (const body of [list.text, one.text]) expect(body).not.toContain('tokenXYZ');
    expect((await call('GET', `/api/usage/webhooks/${created.id}`)).json.url).toBe('https://hooks.example.com/services/T0/B0/tokenXYZ?team=1');
  });

  it('answers 422 naming the field for bad URLs and unknown event types', async () => {
    const { call } = await creator();
    const bad = async (body: unknown, field: string, method = 'POST', path = '/api/usage/webhooks') => {
      const response = await call(method, path, body);
      expect(response.status, `${JSON.stringify(body)} → ${response.text}`).toBe(422);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(response.json.errors.map((e: { field: string }) => e.field), JSON.stringify(response.json)).toContain(field);
      return response.json;
    };
    for (const url of ['ftp://hooks.example.com/x', 'mailto:ops@example.com', 'http://', 'http:///nohost', 'hooks.example.com/x', '/relative', '', 'javascript:alert(1)']) {
      await bad({ url, events: EVENTS }, 'url');
    }
    const credentials = await bad({ url: 'https://user:pass@hooks.example.com/x', events: EVENTS }, 'url');
    expect(JSON.stringify(credentials)).not.toContain('pass@');
    await bad({ url: 'https://user@hooks.example.com/x', events: EVENTS }, 'url');
    await bad({ url: 42, events: EVENTS }, 'url');
    await bad({ events: EVENTS }, 'url');
    const unknown = await bad({ url: 'https://hooks.example.com/', events: ['usage.soft_limit_reached', 'usage.exploded'] }, 'events[1]');
    expect(unknown.detail).toContain('usage.soft_limit_reached');
    await bad({ url: 'https://hooks.example.com/', events: [] }, 'events');
    await bad({ url: 'https://hooks.example.com/', events: 'usage.soft_limit_reached' }, 'events');
    await bad({ url: 'https://hooks.example.com/', events: EVENTS, secret: 'whsec_mine' }, 'secret');

    const { id } = await createEndpoint(call, { url: 'https://hooks.example.com/', events: EVENTS });
    await bad({ url: 'ftp://x.example.com/' }, 'url', 'PATCH', `/api/usage/webhooks/${id}`);
    await bad({ events: ['nope'] }, 'events[0]', 'PATCH', `/api/usage/webhooks/${id}`);
    await bad({ enabled: 'yes' }, 'enabled', 'PATCH', `/api/usage/webhooks/${id}`);
    expect((await call('GET', '/api/usage/webhooks/not-a-uuid')).status).toBe(422);
    expect((await call('GET', `/api/usage/webhooks/${id}/deliveries?limit=0`)).status).toBe(422);
    expect((await call('POST', '/api/usage/webhooks/messages/nope/replay')).status).toBe(422);
  });

  it('refuses loopback, private, link-local and mapped addresses unless ALLOW_PRIVATE_WEBHOOK_URLS', async () => {
    const { apiKey } = await creator();
    const call = api(strict.url, apiKey);
    for (const url of [
      'http://127.0.0.1:9/hook',
      'http://localhost:9/hook',
      'http://[::1]/hook',
      'http://10.0.0.7/hook',
      'http://192.168.1.1/',
      'http://172.20.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.64.0.1/',
      'http://[::ffff:127.0.0.1]/',
      'http://[fd00::1]/',
      'http://0.0.0.0/',
      'http://2130706433/',
    ]) {
      const response = await call('POST', '/api/usage/webhooks', { url, events: EVENTS });
      expect(response.status, `${url} → ${response.text}`).toBe(422);
      expect(response.json.errors[0], url).toMatchObject({ field: 'url', message: expect.stringMatching(/address/) });
    }
    // A public literal address needs no DNS and is fine.
    const ok = await call('POST', '/api/usage/webhooks', { url: 'http://93.184.215.14/hook', events: EVENTS });
    expect(ok.status).toBe(201);
    const moved = await call('PATCH', `/api/usage/webhooks/${ok.json.id}`, { url: 'http://127.0.0.1:8080/' });
    expect(moved.status).toBe(422);
    expect(moved.json.errors[0].field).toBe('url');
    expect((await call('GET', `/api/usage/webhooks/${ok.json.id}`)).json.url).toBe('http://93.184.215.14/hook');
  });

  it('also refuses at delivery time: an endpoint that now points at a private address gets no request', async () => {
    const { call, apiKey } = await creator();
    const endpoint = await receiverEndpoint(call);
    const before = receiver.received.length;
    const test = await api(strict.url, apiKey)('POST', `/api/usage/webhooks/${endpoint.id}/test`);
    expect(test.status).toBe(200);
    expect(test.json).toMatchObject({ success: false, status_code: null, error: expect.stringMatching(/^refused: 127\.0\.0\.1 is a loopback address/) });
    expect(receiver.received.length).toBe(before);
  });

  it('keeps every creator to their own endpoints and messages (404, nothing changed)', async () => {
    const a = await creator();
    const b = await creator();
    const endpoint = await receiverEndpoint(a.call);
    const sent = await a.call('POST', `/api/usage/webhooks/${endpoint.id}/test`);
    expect(sent.json.success).toBe(true);
    const before = (await a.call('GET', `/api/usage/webhooks/${endpoint.id}`)).json;
    const received = receiver.received.length;

    expect((await b.call('GET', `/api/usage/webhooks/${endpoint.id}`)).status).toBe(404);
    expect((await b.call('PATCH', `/api/usage/webhooks/${endpoint.id}`, { enabled: false })).status).toBe(404);
    expect((await b.call('DELETE', `/api/usage/webhooks/${endpoint.id}`)).status).toBe(404);
    expect((await b.call('POST', `/api/usage/webhooks/${endpoint.id}/test`)).status).toBe(404);
    expect((await b.call('GET', `/api/usage/webhooks/${endpoint.id}/deliveries`)).status).toBe(404);
    expect((await b.call('POST', `/api/usage/webhooks/messages/${sent.json.message_id}/replay`)).status).toBe(404);
    expect((await b.call('GET', '/api/usage/webhooks')).json.webhooks).toEqual([]);
    // A's message is not delivered by a job run in B's name either.
    expect(await deliverWebhook(server.rt, b.creatorId, sent.json.message_id)).toBe('skipped');

    expect((await a.call('GET', `/api/usage/webhooks/${endpoint.id}`)).json).toEqual(before);
    expect(receiver.received.length).toBe(received);
  });
});

describe('delivery', () => {
  it('backs off 5 s, 30 s, 2 min, 10 min, 30 min, 1 h (± 20 %), then every 2–6 h', () => {
    const listed = [5_000, 30_000, 120_000, 600_000, 1_800_000, HOUR];
    listed.forEach((delay, i) => {
      expect(retryDelayMs(i + 1, () => 0.5)).toBe(delay);
      expect(retryDelayMs(i + 1, () => 0)).toBe(Math.round(delay * 0.8));
      expect(retryDelayMs(i + 1, () => 1)).toBe(Math.round(delay * 1.2));
    });
    expect(retryDelayMs(7, () => 0)).toBe(2 * HOUR);
    expect(retryDelayMs(30, () => 1)).toBe(6 * HOUR);
    // Over the 3 days a message is tried: 6 quick retries, then about 18 more.
    let at = 0;
    let attempts = 1;
    while (at < WEBHOOK_RETRY.giveUpAfterMs) {
      at = Math.min(at + retryDelayMs(attempts, () => 0.5), WEBHOOK_RETRY.giveUpAfterMs);
      attempts += 1;
    }
    expect(attempts).toBeGreaterThan(20);
    expect(attempts).toBeLessThan(30);
  });

  it('sends the body in the documented key order, the same bytes every time', () => {
    // jsonb hands keys back sorted its own way.
    const fromJsonb = { data: { used: '8', limit: '10', meter_id: 'm', user_id: 'u', threshold: '0.8', event_name: 'e', period_end: 'b', period_start: 'a' }, type: 't', timestamp: 'x' };
    expect(serializeWebhookPayload(fromJsonb)).toBe(
      '{"type":"t","timestamp":"x","data":{"user_id":"u","meter_id":"m","event_name":"e","used":"8","limit":"10","threshold":"0.8","period_start":"a","period_end":"b"}}',
    );
    expect(serializeWebhookPayload({ data: {}, test: true, timestamp: 'x', type: 't' })).toBe('{"type":"t","timestamp":"x","test":true,"data":{}}');
  });

  it('delivers a created message once, signed, with exactly the body of DESIGN.md', async () => {
    const { call, creatorId } = await creator();
    const endpoint = await receiverEndpoint(call);
    const other = await receiverEndpoint(call, receiver, ['usage.hard_limit_reached']);
    const off = await receiverEndpoint(call);
    await call('PATCH', `/api/usage/webhooks/${off.id}`, { enabled: false });

    const ctx = await alertContext(server.rt, call, creatorId);
    await notify(server.rt, ctx);
    await notify(server.rt, ctx); // a retried alerts.notify creates nothing twice

    const [delivery] = (await receiver.waitFor((r) => r.some((d) => d.path === endpoint.path && d.status === 200))).filter((d) => d.path === endpoint.path);
    expect(delivery!.verified).toBe(true);
    expect(delivery!.id).toMatch(/^msg_[A-Za-z0-9_-]+$/);
    expect(delivery!.headers['content-type']).toBe('application/json');
    expect(delivery!.headers['webhook-timestamp']).toMatch(/^\d{10}$/);
    expect(delivery!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Object.keys(delivery!.body)).toEqual(['type', 'timestamp', 'data']);
    expect(delivery!.body).toEqual({
      type: 'usage.soft_limit_reached',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      data: {
        user_id: ctx.customer.userId,
        meter_id: ctx.meter.id,
        event_name: ctx.meter.eventName,
        used: '800',
        limit: '1000',
        threshold: '0.8',
        period_start: '2026-11-01T00:00:00.000Z',
        period_end: '2026-12-01T00:00:00.000Z',
      },
    });

    const [message] = await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.status === 'delivered');
    expect(message).toMatchObject({ message_id: delivery!.id, attempts: 1, alert_id: ctx.alert.id });
    // Running the job again, twice, sends nothing more.
    expect(await deliverWebhook(server.rt, creatorId, delivery!.id)).toBe('skipped');
    expect(await deliverWebhook(server.rt, creatorId, delivery!.id)).toBe('skipped');
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received.filter((d) => d.path === endpoint.path)).toHaveLength(1);
    expect(await attemptsOf(delivery!.id)).toEqual([{ status_code: 200, error: null }]);
    // Not subscribed, or disabled: no message at all.
    expect(await messagesOf(other.id)).toHaveLength(0);
    expect(await messagesOf(off.id)).toHaveLength(0);
  });

  it('retries with the same webhook-id while the receiver is down or failing, then delivers', async () => {
    // First retry a second later (through the real queue), the next one 2 h later (driven by the clock).
    Object.assign(WEBHOOK_RETRY, { delaysMs: [1000, 2 * HOUR], jitter: 0 });
    const flaky = await startWebhookReceiver();
    try {
      const { call, creatorId } = await creator();
      const endpoint = await receiverEndpoint(call, flaky);
      await flaky.goDown();
      await notify(server.rt, await alertContext(server.rt, call, creatorId, 'overage_started'));
      const [message] = await eventually(() => messagesOf(endpoint.id), (rows) => (rows[0]?.attempts ?? 0) >= 1);
      const id = message!.message_id;
      expect(message!.status).toBe('pending');
      flaky.failWith(503, 1);
      await flaky.comeUp();
      // The worker makes the second attempt from the job the first one scheduled.
      await flaky.waitFor((r) => r.length === 1);
      await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.attempts === 2);
      // A duplicate run of that job does nothing: the next attempt is not due.
      expect(await deliverWebhook(server.rt, creatorId, id)).toBe('skipped');
      const jobs = await server.rt.ownerDb.execute<{ singleton_key: string }>(
        sql`select singleton_key from pgboss.job where name = 'webhooks.deliver' and data->>'messageId' = ${id} order by created_on`,
      );
      expect(jobs.map((j) => j.singleton_key)).toEqual([`${id}:1`, `${id}:2`, `${id}:3`]);
      expect((await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json.failing_since).not.toBeNull();
      // A duplicate job for the attempt already made ends; the job for the next attempt, started
      // early (its wait was set by another server's clock, this one's is behind), waits again for the rest
      expect(await deliverWebhook(server.rt, creatorId, id, 2)).toBe('skipped');
      expect(await deliverWebhook(server.rt, creatorId, id, 3)).toBe('skipped');
      const requeued = await server.rt.ownerDb.execute<{ singleton_key: string; wait_ms: number }>(
        sql`select singleton_key, (extract(epoch from start_after - created_on) * 1000)::float8 as wait_ms from pgboss.job where name = 'webhooks.deliver' and data->>'messageId' = ${id} order by created_on`,
      );
      expect(requeued.map((j) => j.singleton_key)).toEqual([`${id}:1`, `${id}:2`, `${id}:3`, `${id}:3`]);
      expect(Math.abs(requeued[3]!.wait_ms - 2 * HOUR)).toBeLessThan(30_000);

      offsetMs += 2 * HOUR + 60_000;
      expect(await deliverWebhook(server.rt, creatorId, id)).toBe('delivered');
      const received = flaky.received;
      expect(received.map((d) => d.status)).toEqual([503, 200]);
      expect(received.map((d) => d.id)).toEqual([id, id]);
      expect(received[1]!.rawBody).toBe(received[0]!.rawBody);
      expect(received.every((d) => d.verified)).toBe(true);
      expect(received[1]!.body.type).toBe('usage.overage_started');
      expect(await deliverWebhook(server.rt, creatorId, id)).toBe('skipped');

      const attempts = await attemptsOf(id);
      expect(attempts.map((a) => a.status_code)).toEqual([null, 503, 200]);
      expect(attempts[0]!.error).toContain('ECONNREFUSED');
      expect((await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json.failing_since).toBeNull();

      // The delivery log tells the same story.
      const log = await call('GET', `/api/usage/webhooks/${endpoint.id}/deliveries`);
      expect(log.status).toBe(200);
      expect(log.json.messages).toHaveLength(1);
      expect(log.json.messages[0]).toMatchObject({ id, status: 'delivered', event_type: 'usage.overage_started', test: false, attempt_count: 3, next_attempt_at: null });
      expect(log.json.messages[0].attempts.map((a: { status_code: number | null; success: boolean }) => [a.status_code, a.success])).toEqual([
        [null, false],
        [503, false],
        [200, true],
      ]);
      const failed = log.json.messages[0].attempts[1];
      expect(failed.response_snippet).toContain('failing on purpose');
      expect(failed.latency_ms).toBeGreaterThanOrEqual(0);
    } finally {
      await flaky.close();
    }
  });

  it('a retry scheduled by a server whose clock is behind the database’s still runs when due, not early and then never', async () => {
    // Given: this server's clock 8 s behind the database's (pg-boss starts jobs by the database's clock), retries 8 s apart
    offsetMs = -8_000;
    Object.assign(WEBHOOK_RETRY, { delaysMs: [8_000], jitter: 0 });
    const flaky = await startWebhookReceiver();
    try {
      const { call, creatorId } = await creator();
      const endpoint = await receiverEndpoint(call, flaky);
      flaky.failWith(503, 1);
      // When: the first attempt fails
      await notify(server.rt, await alertContext(server.rt, call, creatorId, 'overage_started'));
      const [first] = await eventually(() => messagesOf(endpoint.id), (rows) => (rows[0]?.attempts ?? 0) >= 1);
      expect(first!.status).toBe('pending');
      // Then: the retry the worker runs from the queue delivers it. A retry queued for a time
      // by the server's clock was startable at once, found the attempt "not due" (the worker
      // looks for deferred jobs every 5 s: at most 5 s into the 8) and did nothing, leaving
      // the message pending for good.
      const [delivered] = await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.status === 'delivered', 25_000);
      expect(delivered).toMatchObject({ status: 'delivered', attempts: 2 });
      expect(flaky.received.map((d) => d.status)).toEqual([503, 200]);
      expect(flaky.received[1]!.id).toBe(first!.message_id);
    } finally {
      await flaky.close();
    }
  });

  it('sends a signed test event now and answers with the attempt; replays a message with the same webhook-id', async () => {
    const { call, creatorId } = await creator();
    const endpoint = await receiverEndpoint(call);

    const test = await call('POST', `/api/usage/webhooks/${endpoint.id}/test`);
    expect(test.status).toBe(200);
    expect(test.json).toMatchObject({ success: true, status_code: 200, error: null, message_id: expect.stringMatching(/^msg_/) });
    expect(test.json.latency_ms).toBeGreaterThanOrEqual(0);
    const got = receiver.received.find((d) => d.id === test.json.message_id)!;
    expect(got.verified).toBe(true);
    expect(got.body).toMatchObject({ type: 'usage.threshold_reached', test: true, data: { user_id: expect.stringContaining('test'), limit: '1000', threshold: '0.8' } });

    receiver.failWith(500, 1);
    const failing = await call('POST', `/api/usage/webhooks/${endpoint.id}/test`);
    expect(failing.json).toMatchObject({ success: false, status_code: 500, response_snippet: expect.stringContaining('failing on purpose') });

    // A delivered alert message, replayed: one more request, same id, still delivered.
    const ctx = await alertContext(server.rt, call, creatorId, 'hard_limit_reached');
    await notify(server.rt, ctx);
    const [message] = await eventually(() => messagesOf(endpoint.id), (rows) => rows.some((m) => m.alert_id === ctx.alert.id && m.status === 'delivered'));
    const alertMessage = (await messagesOf(endpoint.id)).find((m) => m.alert_id === ctx.alert.id)!;
    expect(message).toBeDefined();
    const replay = await call('POST', `/api/usage/webhooks/messages/${alertMessage.message_id}/replay`);
    expect(replay.status).toBe(200);
    expect(replay.json).toMatchObject({ message_id: alertMessage.message_id, success: true, status_code: 200 });
    const copies = receiver.received.filter((d) => d.id === alertMessage.message_id);
    expect(copies).toHaveLength(2);
    expect(copies[1]!.rawBody).toBe(copies[0]!.rawBody);
    expect(copies.every((d) => d.verified)).toBe(true);
    expect((await call('POST', '/api/usage/webhooks/messages/msg_doesnotexist/replay')).status).toBe(404);

    const log = await call('GET', `/api/usage/webhooks/${endpoint.id}/deliveries`);
    expect(log.json.messages.map((m: { test: boolean; status: string; attempts: unknown[] }) => [m.test, m.status, m.attempts.length])).toEqual([
      [false, 'delivered', 2],
      [true, 'failed', 1],
      [true, 'delivered', 1],
    ]);
    const firstPage = await call('GET', `/api/usage/webhooks/${endpoint.id}/deliveries?limit=1`);
    expect(firstPage.json.messages).toHaveLength(1);
    const next = await call('GET', `/api/usage/webhooks/${endpoint.id}/deliveries?limit=5&before=${encodeURIComponent(firstPage.json.messages[0].created_at)}`);
    expect(next.json.messages).toHaveLength(2);
  });

  it('disables an endpoint that failed every delivery for 24 h (≥ 5 attempts) and emails the creator', async () => {
    // Retries far apart: only this test's own calls make attempts after the first.
    Object.assign(WEBHOOK_RETRY, { delaysMs: [], tailMs: [2 * HOUR, 2 * HOUR] });
    const down = await startWebhookReceiver();
    down.failWith(500);
    try {
      const { call, creatorId } = await creator();
      const endpoint = await receiverEndpoint(call, down);
      await notify(server.rt, await alertContext(server.rt, call, creatorId));
      const [message] = await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.attempts === 1);
      const id = message!.message_id;

      const step = async (hours: number) => {
        offsetMs += hours * HOUR;
        return deliverWebhook(server.rt, creatorId, id);
      };
      // Not due yet: nothing happens.
      expect(await deliverWebhook(server.rt, creatorId, id)).toBe('skipped');
      expect(await step(6)).toBe('retry_scheduled');
      expect(await step(6)).toBe('retry_scheduled');
      expect(await step(6)).toBe('retry_scheduled'); // 18 h of failures: still enabled
      const failing = (await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json;
      expect(failing).toMatchObject({ enabled: true, failing_since: expect.any(String) });
      expect(await step(6)).toBe('failed'); // 24 h and 5 failed attempts in a row

      const disabled = (await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json;
      expect(disabled).toMatchObject({ enabled: false, disabled_reason: expect.stringContaining('Disabled automatically') });
      expect(await attemptsOf(id)).toHaveLength(5);
      expect(down.received.every((d) => d.id === id)).toBe(true);
      const emails = await server.rt.ownerDb.execute<{ subject: string; text_body: string; recipient: string }>(
        sql`select subject, text_body, recipient from email_messages where creator_id = ${creatorId} and alert_id is null`,
      );
      expect(emails).toHaveLength(1);
      expect(emails[0]).toMatchObject({ recipient: 'creator', subject: expect.stringMatching(/disabled/i), text_body: expect.stringContaining(endpoint.url) });

      // A disabled endpoint gets no new messages; re-enabling clears the reason and the failure run.
      await notify(server.rt, await alertContext(server.rt, call, creatorId));
      expect(await messagesOf(endpoint.id)).toHaveLength(1);
      const enabled = (await call('PATCH', `/api/usage/webhooks/${endpoint.id}`, { enabled: true })).json;
      expect(enabled).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
    } finally {
      await down.close();
    }
  });

  it('an endpoint that never answers holds no transaction, connection or row lock while it takes its time', async () => {
    // A receiver that takes each delivery and never answers (until the 3 s timeout).
    const requests: string[] = [];
    const hanging = http.createServer((req) => requests.push(String(req.headers['webhook-id'])));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const { call, creatorId } = await creator();
      const endpoint = await createEndpoint(call, { url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`, events: EVENTS });
      for (let i = 0; i < 3; i++) await notify(server.rt, await alertContext(server.rt, call, creatorId));
      await eventually(async () => requests.length, (n) => n === 3);
      const messageIds = (await messagesOf(endpoint.id)).map((m) => m.message_id);
      expect([...requests].sort()).toEqual([...messageIds].sort());
      // While all three wait on the endpoint (1.2 s into its 3 s timeout): no transaction of
      // either pool has been open for more than a moment…
      await new Promise((r) => setTimeout(r, 1_200));
      const longTransactions = await server.rt.ownerDb.execute<{ application_name: string; state: string }>(sql`
        select application_name, state from pg_stat_activity
        where datname = current_database() and application_name like 'staryer-usage%' and xact_start < now() - interval '1 second'`);
      expect(longTransactions).toEqual([]);
      // …no message row is locked…
      await server.rt.ownerDb.transaction(async (tx) => {
        const locked = await tx.execute(sql`select message_id from webhook_messages where endpoint_id = ${endpoint.id} for update nowait`);
        expect(locked).toHaveLength(3);
      });
      // …and another run of a claimed message sends nothing: it looks again once the claim lapses.
      expect(await deliverWebhook(server.rt, creatorId, messageIds[0]!)).toBe('skipped');
      const [claimed] = await server.rt.ownerDb.execute<{ sending_until: string }>(sql`select sending_until from webhook_messages where message_id = ${messageIds[0]!}`);
      const claimedUntil = new Date(claimed!.sending_until).getTime();
      expect(claimedUntil).toBeGreaterThan(Date.now() + 3_000 + CLAIM_MARGIN_MS - 5_000);
      const [recheck] = await server.rt.ownerDb.execute<{ start_after: string }>(
        sql`select start_after from pgboss.job where name = 'webhooks.deliver' and singleton_key like ${`${messageIds[0]!}:claim:%`}`,
      );
      // A second after the claim lapses, queued as a wait on the database's clock (the same
      // clock here: equal but for the moment between the run's reading and the insert's).
      expect(Math.abs(new Date(recheck!.start_after).getTime() - (claimedUntil + 1_000))).toBeLessThan(250);
      expect((await call('GET', `/api/usage/webhooks/${endpoint.id}`)).status).toBe(200);
      // The timeouts are recorded as attempts and the next ones scheduled; the claims are released.
      const settled = await eventually(
        () => server.rt.ownerDb.execute<{ attempts: number; sending_until: string | null; next_attempt_at: string | null }>(
          sql`select attempts, sending_until, next_attempt_at from webhook_messages where endpoint_id = ${endpoint.id}`,
        ),
        (rows) => rows.every((r) => r.attempts === 1),
      );
      expect(settled.every((r) => r.sending_until === null && r.next_attempt_at !== null)).toBe(true);
      for (const id of messageIds) expect(await attemptsOf(id)).toEqual([{ status_code: null, error: expect.stringMatching(/timed out|timeout/i) }]);
      expect(requests).toHaveLength(3);
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  it('sends again a message whose attempt died with its process (claim lapsed), and refuses a replay while one is being sent', async () => {
    const { call, creatorId } = await creator();
    const endpoint = await receiverEndpoint(call);
    const ctx = await alertContext(server.rt, call, creatorId);
    // The message as a process that died mid-attempt leaves it: claimed (for 2 s more), never recorded.
    await withCreator(server.rt.db, creatorId, async (tx) => {
      await createWebhookMessages(server.rt, tx, ctx);
      await tx.execute(sql`update webhook_messages set sending_until = now() + interval '2 seconds' where endpoint_id = ${endpoint.id}`);
    });
    const [message] = await messagesOf(endpoint.id);
    // Its delivery job finds it claimed and sends nothing…
    await eventually(
      () => server.rt.ownerDb.execute(sql`select 1 from pgboss.job where name = 'webhooks.deliver' and singleton_key like ${`${message!.message_id}:claim:%`}`),
      (rows) => rows.length === 1,
    );
    expect(receiver.received.filter((d) => d.id === message!.message_id)).toHaveLength(0);
    // …and sends it once the claim has lapsed, once.
    const delivered = await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.status === 'delivered');
    expect(delivered[0]).toMatchObject({ attempts: 1 });
    expect(receiver.received.filter((d) => d.id === message!.message_id)).toHaveLength(1);

    // A claim that holds: a replay answers 409 with Retry-After, sends nothing and changes nothing.
    await server.rt.ownerDb.execute(sql`update webhook_messages set sending_until = now() + interval '20 seconds' where message_id = ${message!.message_id}`);
    const sentBefore = receiver.received.length;
    const refused = await call('POST', `/api/usage/webhooks/messages/${message!.message_id}/replay`);
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ type: 'https://staryer.dev/problems/delivery-in-progress', status: 409 });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(19);
    expect(receiver.received.length).toBe(sentBefore);
    expect(await attemptsOf(message!.message_id)).toEqual([{ status_code: 200, error: null }]);
  });

  it('a 2xx that arrives after its claim lapsed (another run took the message over) still marks the message delivered', async () => {
    // A receiver that holds its answer until told
    const held: http.ServerResponse[] = [];
    const slow = http.createServer((_req, res) => held.push(res));
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const { call, creatorId } = await creator();
      const endpoint = await createEndpoint(call, { url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook`, events: EVENTS });
      await notify(server.rt, await alertContext(server.rt, call, creatorId));
      await eventually(async () => held.length, (n) => n === 1);
      const [message] = await messagesOf(endpoint.id);
      // Given: while the worker waits for the answer, its claim lapses and another run claims the message
      await server.rt.ownerDb.execute(sql`update webhook_messages set sending_until = now() + interval '20 seconds' where message_id = ${message!.message_id}`);
      // When: the receiver answers 200 to the first run
      held[0]!.writeHead(200).end('ok');
      // Then: the attempt is on record and the message is delivered — the run holding it now schedules no retry of a message the receiver has
      await eventually(() => attemptsOf(message!.message_id), (rows) => rows.length === 1);
      expect(await attemptsOf(message!.message_id)).toEqual([{ status_code: 200, error: null }]);
      const [after] = await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.status !== 'pending', 3_000);
      expect(after).toMatchObject({ status: 'delivered', attempts: 1, next_attempt_at: null });
    } finally {
      for (const res of held) if (!res.writableEnded) res.end();
      slow.closeAllConnections();
      slow.close();
    }
  });

  it('deleting an endpoint while a delivery to it is being recorded does not deadlock: the deletion commits, the attempt is on record', async () => {
    const waiting: http.ServerResponse[] = [];
    const stalling = http.createServer((_req, res) => waiting.push(res));
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
    try {
      const { call, creatorId } = await creator();
      const endpoint = await createEndpoint(call, { url: `http://127.0.0.1:${(stalling.address() as AddressInfo).port}/hook`, events: EVENTS });
      await notify(server.rt, await alertContext(server.rt, call, creatorId));
      await eventually(async () => waiting.length, (n) => n === 1);
      const [message] = await messagesOf(endpoint.id);
      // A deletion of the endpoint under way has stopped its pending messages (and holds their locks)…
      const deletion = server.rt.ownerDb.transaction(async (tx) => {
        await tx.execute(sql`update webhook_messages set status = 'failed', next_attempt_at = null where endpoint_id = ${endpoint.id} and status = 'pending'`);
        // …when the receiver answers, and the delivery goes to record its attempt…
        waiting[0]!.writeHead(500).end();
        await new Promise((r) => setTimeout(r, 500));
        // …then it deletes the endpoint.
        await tx.execute(sql`delete from webhook_endpoints where endpoint_id = ${endpoint.id}`);
      });
      await expect(deletion).resolves.toBeUndefined();
      expect(await eventually(() => attemptsOf(message!.message_id), (rows) => rows.length === 1)).toEqual([{ status_code: 500, error: null }]);
      const [stopped] = await eventually(
        () => server.rt.ownerDb.execute<{ status: string; attempts: number; sending_until: string | null; next_attempt_at: string | null }>(
          sql`select status, attempts, sending_until, next_attempt_at from webhook_messages where message_id = ${message!.message_id}`,
        ),
        (rows) => rows[0]?.attempts === 1,
      );
      expect(stopped).toEqual({ status: 'failed', attempts: 1, sending_until: null, next_attempt_at: null });
    } finally {
      stalling.closeAllConnections();
      stalling.close();
    }
  });

  it('a replay that fails leaves a pending message scheduled: delivered once the receiver answers, even with no delivery job left', async () => {
    const down = await startWebhookReceiver();
    try {
      const { call, creatorId } = await creator();
      const endpoint = await receiverEndpoint(call, down);
      const ctx = await alertContext(server.rt, call, creatorId);
      // As a scheduled attempt leaves it when a replay took its lapsed claim over: pending, due,
      // and no delivery job (that attempt's run found the message no longer its own).
      const messageId = `msg_${randomBytes(18).toString('base64url')}`;
      await withCreator(server.rt.db, creatorId, (tx) =>
        insertMessagesOnce(tx, [{ id: messageId, creatorId, endpointId: endpoint.id, alertId: ctx.alert.id, eventType: 'usage.threshold_reached', payload: { type: 'usage.threshold_reached', test: false }, nextAttemptAt: clock() }], clock()),
      );
      // The replay fails (one 503)…
      down.failWith(503, 1);
      const replay = await call('POST', `/api/usage/webhooks/messages/${messageId}/replay`);
      expect(replay.status).toBe(200);
      expect(replay.json).toMatchObject({ success: false, status_code: 503 });
      // …and the message is delivered by its schedule, once the receiver answers again.
      const [delivered] = await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.status === 'delivered');
      expect(delivered).toMatchObject({ message_id: messageId, attempts: 2 });
      expect(await attemptsOf(messageId)).toEqual([
        { status_code: 503, error: null },
        { status_code: 200, error: null },
      ]);
    } finally {
      await down.close();
    }
  });

  it('does not count a quiet spell as failing: one failure, two days of nothing, then a short outage leaves the endpoint enabled', async () => {
    const down = await startWebhookReceiver();
    down.failWith(503);
    try {
      const { call, creatorId } = await creator();
      const endpoint = await receiverEndpoint(call, down);
      // A test send before the receiver works: a failure run starts
      expect((await call('POST', `/api/usage/webhooks/${endpoint.id}/test`)).json).toMatchObject({ success: false });
      const firstFailure = (await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json.failing_since as string;
      expect(firstFailure).toEqual(expect.any(String));

      // Two days without anything to deliver, then an alert during a few minutes' outage
      offsetMs += 48 * HOUR;
      await notify(server.rt, await alertContext(server.rt, call, creatorId));
      const alertMessage = async () => (await messagesOf(endpoint.id)).filter((m) => m.alert_id !== null);
      const [message] = await eventually(alertMessage, (rows) => rows[0]?.attempts === 1);
      const outageStart = Date.parse((await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json.failing_since);
      expect(outageStart).toBeGreaterThan(Date.parse(firstFailure) + 47 * HOUR);
      for (let i = 0; i < 5; i++) {
        offsetMs += 40 * 60_000; // past each retry's due time (5 s … 30 min, ± 20 %)
        expect(await deliverWebhook(server.rt, creatorId, message!.message_id)).toBe('retry_scheduled');
      }
      // Seven failures, the last six within a few hours: not 24 h of failing. Still enabled, still retried.
      expect((await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json).toMatchObject({ enabled: true, disabled_reason: null });
      down.answerNormally();
      offsetMs += 80 * 60_000;
      expect(await deliverWebhook(server.rt, creatorId, message!.message_id)).toBe('delivered');
      expect((await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json).toMatchObject({ enabled: true, failing_since: null });
    } finally {
      await down.close();
    }
  });

  it('gives a message up 3 days after it was created, without disabling an endpoint that failed fewer than 5 times', async () => {
    Object.assign(WEBHOOK_RETRY, { delaysMs: [], tailMs: [2 * HOUR, 2 * HOUR] });
    const down = await startWebhookReceiver();
    down.failWith(503);
    try {
      const { call, creatorId } = await creator();
      const endpoint = await receiverEndpoint(call, down);
      await notify(server.rt, await alertContext(server.rt, call, creatorId));
      const [message] = await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.attempts === 1);
      const id = message!.message_id;
      offsetMs += 30 * HOUR;
      expect(await deliverWebhook(server.rt, creatorId, id)).toBe('retry_scheduled'); // failing 30 h, but 2 attempts
      expect((await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json.enabled).toBe(true);
      offsetMs += 43 * HOUR;
      expect(await deliverWebhook(server.rt, creatorId, id)).toBe('failed');
      expect((await messagesOf(endpoint.id))[0]).toMatchObject({ status: 'failed', attempts: 3, next_attempt_at: null });
      expect((await call('GET', `/api/usage/webhooks/${endpoint.id}`)).json.enabled).toBe(true);
      expect(await deliverWebhook(server.rt, creatorId, id)).toBe('skipped');
    } finally {
      await down.close();
    }
  });

  it('stops a deleted endpoint’s pending messages', async () => {
    Object.assign(WEBHOOK_RETRY, { delaysMs: [], tailMs: [2 * HOUR, 2 * HOUR] });
    const down = await startWebhookReceiver();
    down.failWith(500);
    try {
      const { call, creatorId } = await creator();
      const endpoint = await receiverEndpoint(call, down);
      await notify(server.rt, await alertContext(server.rt, call, creatorId));
      const [message] = await eventually(() => messagesOf(endpoint.id), (rows) => rows[0]?.attempts === 1);
      expect((await call('DELETE', `/api/usage/webhooks/${endpoint.id}`)).status).toBe(204);
      offsetMs += 3 * HOUR;
      expect(await deliverWebhook(server.rt, creatorId, message!.message_id)).toBe('skipped');
      expect((await messagesOf(endpoint.id))[0]!.status).toBe('failed');
      expect(down.received).toHaveLength(1);
    } finally {
      await down.close();
    }
  });
});
