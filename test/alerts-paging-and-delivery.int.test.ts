/**
 * Alerts and webhook messages raised at one instant page through without a gap (keyset on
 * created_at + id), and a receiver that answers 200 before finishing its body is delivered to.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { insertEndpoint, insertMessagesOnce } from '../db/queries/webhooks.js';
import { withCreator } from '../db/tenant.js';
import { WEBHOOK_RETRY } from '../server/services/webhooks.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

const { url } = await useTestDatabase();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(url, { env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'false' } });
});
afterAll(async () => {
  await server?.close();
});

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  return { call: api(server.url, apiKey), creatorId: creator.id };
}

type Listed = { id: string; created_at: string };

/** Follows the list's cursor (created_at and id of the last one shown) to the end. */
async function pageThrough(call: ReturnType<typeof api>, path: string, key: 'alerts' | 'messages', limit: number): Promise<Listed[]> {
  const seen: Listed[] = [];
  for (let page = 0; page < 20; page++) {
    const last = seen.at(-1);
    const cursor = last ? `&before=${encodeURIComponent(last.created_at)}&before_id=${encodeURIComponent(last.id)}` : '';
    const res = await call('GET', `${path}?limit=${limit}${cursor}`);
    expect(res.status, res.text).toBe(200);
    const rows = res.json[key] as Listed[];
    seen.push(...rows);
    if (rows.length < limit) return seen;
  }
  throw new Error('the cursor did not reach the end');
}

describe('alert list pagination', () => {
  async function fourAlertsAtOneInstant() {
    const { call } = await creator();
    const meter = await call('POST', '/api/usage/meters', {
      event_name: 'api_calls',
      display_name: 'API Calls',
      aggregation_type: 'sum',
      unit_name: 'calls',
      alert_thresholds: [0.5, 0.9],
      plan_limits: [{ plan_name: 'starter', limit_value: 10, soft_limit_threshold: 0.8 }],
    });
    expect(meter.status, meter.text).toBe(201);
    expect((await call('PUT', '/api/usage/customers/u1', { plan_name: 'starter' })).status).toBe(201);
    // One event crossing 50 %, 80 %, 90 % and the limit: four alerts, raised in one transaction.
    const tracked = await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'u1', value: 20 });
    expect(tracked.status, tracked.text).toBe(201);
    const all = await call('GET', '/api/usage/alerts');
    expect(all.json.alerts).toHaveLength(4);
    expect(new Set(all.json.alerts.map((a: Listed) => a.created_at)).size).toBe(1);
    return { call, all: all.json.alerts as Listed[] };
  }

  it('pages with before + before_id (the last alert shown) through alerts raised at one instant, each once, in the order of the full list', async () => {
    const { call, all } = await fourAlertsAtOneInstant();
    // Ties broken by id, so the order is defined and the same on every page.
    expect(all.map((a) => a.id)).toEqual([...all.map((a) => a.id)].sort().reverse());
    for (const limit of [1, 2, 3]) {
      expect((await pageThrough(call, '/api/usage/alerts', 'alerts', limit)).map((a) => a.id)).toEqual(all.map((a) => a.id));
    }
  });

  it('keeps before alone as it was: only alerts created strictly before that instant', async () => {
    const { call, all } = await fourAlertsAtOneInstant();
    const sameInstant = await call('GET', `/api/usage/alerts?before=${encodeURIComponent(all[0]!.created_at)}`);
    expect(sameInstant.status).toBe(200);
    expect(sameInstant.json.alerts).toEqual([]);
    const later = new Date(Date.parse(all[0]!.created_at) + 1).toISOString();
    expect((await call('GET', `/api/usage/alerts?before=${encodeURIComponent(later)}`)).json.alerts).toHaveLength(4);
  });

  it('refuses a malformed before_id, or one without before, with 422 problem JSON naming before_id', async () => {
    const { call } = await creator();
    const before = encodeURIComponent(new Date().toISOString());
    for (const query of [`before=${before}&before_id=not-a-uuid`, `before_id=${randomUUID()}`]) {
      const res = await call('GET', `/api/usage/alerts?${query}`);
      expect(res.status, query).toBe(422);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.json.errors.map((e: { field: string }) => e.field)).toEqual(['before_id']);
    }
  });
});

describe('webhook delivery log pagination', () => {
  it('pages with before + before_id (the last message shown) through messages created at one instant, each once', async () => {
    const { call, creatorId } = await creator();
    // Written below the API: messages of one endpoint sharing a created_at to the millisecond
    // (alerts notified in the same millisecond) are otherwise a matter of timing.
    const at = new Date();
    const endpointId = randomUUID();
    await withCreator(server.rt.db, creatorId, async (tx) => {
      await insertEndpoint(tx, { creatorId, id: endpointId, url: 'https://hooks.example.com/in', eventTypes: ['usage.overage_started'], secret: `whsec_${randomBytes(24).toString('base64')}` }, at);
      await insertMessagesOnce(
        tx,
        Array.from({ length: 5 }, () => ({
          id: `msg_${randomBytes(18).toString('base64url')}`,
          creatorId,
          endpointId,
          alertId: randomUUID(),
          eventType: 'usage.overage_started',
          payload: {},
          nextAttemptAt: null,
        })),
        at,
      );
    });
    const path = `/api/usage/webhooks/${endpointId}/deliveries`;
    const all = (await call('GET', path)).json.messages as Listed[];
    expect(all).toHaveLength(5);
    for (const limit of [1, 2, 4]) {
      expect((await pageThrough(call, path, 'messages', limit)).map((m) => m.id)).toEqual(all.map((m) => m.id));
    }
    expect((await call('GET', `${path}?before=${encodeURIComponent(all[0]!.created_at)}`)).json.messages).toEqual([]);
    const bad = await call('GET', `${path}?before=${encodeURIComponent(at.toISOString())}&before_id=nope`);
    expect(bad.status).toBe(422);
    expect(bad.json.errors.map((e: { field: string }) => e.field)).toEqual(['before_id']);
  });
});

describe('webhook delivery to a receiver that answers 200 before it finishes its body', () => {
  it('counts a 200 whose body is still streaming when the timeout fires as delivered, with the snippet so far, and does not send it again', async () => {
    const hooks = await startTestServer(url, { workers: true, env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'true', WEBHOOK_TIMEOUT_MS: '1500' } });
    const saved = structuredClone(WEBHOOK_RETRY);
    WEBHOOK_RETRY.delaysMs = [200, 200, 200, 200];
    WEBHOOK_RETRY.jitter = 0;
    const requests: string[] = [];
    // A receiver that takes the message, answers 200 at once and then keeps streaming its
    // body (a framework flushing headers before its handler is done).
    const receiver = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests.push(String(req.headers['webhook-id']));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('accepted');
        setTimeout(() => res.end(), 3_000).unref();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    try {
      const { apiKey } = await createCreatorWithKey(hooks.rt);
      const call = api(hooks.url, apiKey);
      expect((await call('POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'starter', limit_value: 1 }] })).status).toBe(201);
      expect((await call('PUT', '/api/usage/customers/u1', { plan_name: 'starter' })).status).toBe(201);
      const endpoint = await call('POST', '/api/usage/webhooks', { url: `http://127.0.0.1:${port}/hook`, events: ['usage.overage_started'] });
      expect(endpoint.status).toBe(201);
      await call('POST', '/api/usage/track', [{ event_name: 'api_calls', user_id: 'u1' }, { event_name: 'api_calls', user_id: 'u1' }]);
      // Long enough for the first attempt, its timeout and a few 200 ms retries.
      await new Promise((r) => setTimeout(r, 7_000));
      const deliveries = await call('GET', `/api/usage/webhooks/${endpoint.json.id}/deliveries`);
      const message = deliveries.json.messages[0];
      expect({ requests: requests.length, status: message.status, first: message.attempts[0]?.status_code ?? message.attempts[0]?.error }).toEqual({ requests: 1, status: 'delivered', first: 200 });
      expect(message.attempts[0]).toMatchObject({ response_snippet: 'accepted', error: null });
    } finally {
      Object.assign(WEBHOOK_RETRY, saved);
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await hooks.close();
    }
  }, 30_000);
});
