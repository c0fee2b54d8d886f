import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../server/services/sessions.js';
import { useTestDatabase } from './harness/db.js';
import { ownerSql, tenantDigest } from './harness/digest.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * Review: creator B (its admin key, a track-only key, its dashboard session, a browser token)
 * against creator A's ids, through the real HTTP server. Every answer must be 404 (or 403 for
 * a scope), and A's rows must not change.
 */
const { url } = await useTestDatabase();
const server = useTestServer(url, {
  pages: true,
  env: { AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000', ALLOW_PRIVATE_WEBHOOK_URLS: 'true' },
});
const owner = ownerSql(url);

let receiver: http.Server;
let receiverUrl: string;
beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end('ok'));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook/secret-path`;
});
afterAll(async () => {
  await owner.end();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

const raw = (path: string, init: RequestInit = {}) => fetch(server().url + path, { redirect: 'manual', ...init });

type World = {
  a: Awaited<ReturnType<typeof createCreatorWithKey>>;
  b: Awaited<ReturnType<typeof createCreatorWithKey>>;
  callA: ReturnType<typeof api>;
  callB: ReturnType<typeof api>;
  meterA: Record<string, any>;
  alertA: Record<string, any>;
  endpointA: Record<string, any>;
  messageIdA: string;
  extraKeyA: Record<string, any>;
  sessionB: { cookie: string; csrf: string };
};
let w: World;

async function sessionOf(creatorId: string) {
  const { sessionToken } = await createSession(server().rt, { creatorId, ip: '127.0.0.1', userAgent: null });
  const { authenticateSession } = await import('../server/services/sessions.js');
  const { csrfSecret } = (await authenticateSession(server().rt, sessionToken))!;
  return { cookie: `staryer_session=${sessionToken}`, csrf: csrfSecret };
}

beforeAll(async () => {
  const rt = server().rt;
  const a = await createCreatorWithKey(rt);
  const b = await createCreatorWithKey(rt);
  const callA = api(server().url, a.apiKey);
  const callB = api(server().url, b.apiKey);
  const meterA = await createMeter(callA, {
    event_name: 'calls',
    display_name: 'Calls',
    aggregation_type: 'sum',
    unit_name: 'calls',
    plan_limits: [{ plan_name: 'free', limit_value: 10, overage_price: '1', soft_limit_threshold: '0.5' }],
  });
  expect((await callA('PUT', '/api/usage/customers/ann', { plan_name: 'free', email: 'ann@a.example' })).status).toBe(201);
  expect((await callA('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann', value: 8 })).status).toBe(201);
  const alerts = (await callA('GET', '/api/usage/alerts?user_id=ann')).json.alerts as Array<Record<string, any>>;
  expect(alerts.length).toBeGreaterThan(0);
  const created = await callA('POST', '/api/usage/webhooks', { url: receiverUrl, events: ['usage.soft_limit_reached'] });
  expect(created.status, created.text).toBe(201);
  const test = await callA('POST', `/api/usage/webhooks/${created.json.id}/test`);
  expect(test.status, test.text).toBe(200);
  const extraKey = await callA('POST', '/api/usage/keys', { name: 'second', scopes: ['read'] });
  expect(extraKey.status).toBe(201);
  // B has a meter of the same event name and a customer of the same user_id: separate namespaces.
  await createMeter(callB, { event_name: 'calls', display_name: 'B calls', aggregation_type: 'count', unit_name: 'calls' });
  w = {
    a,
    b,
    callA,
    callB,
    meterA,
    alertA: alerts[0]!,
    endpointA: created.json,
    messageIdA: test.json.message_id,
    extraKeyA: extraKey.json,
    sessionB: await sessionOf(b.creator.id),
  };
});

const digestA = () => tenantDigest(owner);

/** A tRPC call with a bearer key: GET for queries, POST for mutations. */
async function trpc(apiKey: string, procedure: string, input: unknown, kind: 'query' | 'mutation') {
  const call = api(server().url, apiKey);
  return kind === 'query'
    ? call('GET', `/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`)
    : call('POST', `/api/trpc/${procedure}`, input);
}

/** Everything that names one of A's objects, as B would send it. */
function crossTenantCalls(): Array<[procedure: string, input: unknown, kind: 'query' | 'mutation']> {
  const meterId = w.meterA.id as string;
  const alertId = w.alertA.id as string;
  const endpointId = w.endpointA.id as string;
  const inTwoHours = new Date(Date.now() + 7_200_000).toISOString();
  const ago = new Date(Date.now() - 30 * 86_400_000).toISOString();
  return [
    ['meters.get', { id: meterId }, 'query'],
    ['meters.limitHistory', { id: meterId }, 'query'],
    ['meters.preview', { event_name: 'calls', aggregation_type: 'sum', unit_name: 'calls', display_name: 'x', meter_id: meterId }, 'query'],
    ['meters.update', { id: meterId, patch: { display_name: 'hijacked' } }, 'mutation'],
    ['meters.archive', { id: meterId }, 'mutation'],
    ['billing.linkMeter', { id: meterId }, 'mutation'],
    ['customers.top', { meter_id: meterId }, 'query'],
    ['insights.trends', { meter_id: meterId, from: ago, to: inTwoHours }, 'query'],
    ['revenue.whatIf', { meter_id: meterId, plan_name: 'free', limit_value: '1', overage_price: '1' }, 'query'],
    ['alerts.get', { id: alertId }, 'query'],
    ['alerts.acknowledge', { id: alertId }, 'mutation'],
    ['webhooks.get', { id: endpointId }, 'query'],
    ['webhooks.deliveries', { id: endpointId }, 'query'],
    ['webhooks.update', { id: endpointId, patch: { enabled: false } }, 'mutation'],
    ['webhooks.sendTest', { id: endpointId }, 'mutation'],
    ['webhooks.replay', { message_id: w.messageIdA }, 'mutation'],
    ['webhooks.delete', { id: endpointId }, 'mutation'],
    ['apiKeys.revoke', { id: w.extraKeyA.id }, 'mutation'],
  ];
}

describe('tRPC with creator B’s admin key, naming creator A’s ids', () => {
  it('answers 404 to every procedure and changes none of A’s rows', async () => {
    const before = await digestA();
    const seen: string[] = [];
    for (const [procedure, input, kind] of crossTenantCalls()) {
      const r = await trpc(w.b.apiKey, procedure, input, kind);
      seen.push(`${procedure} → ${r.status}`);
      // 404 is the contract; 422 "is not one of your meters" is an acceptable refusal for meter ids inside other inputs.
      expect([404, 422], `${procedure}: ${r.text.slice(0, 300)}`).toContain(r.status);
      expect(r.text, procedure).not.toContain('ann@a.example');
      expect(r.text, procedure).not.toContain('secret-path');
    }
    // A's data is unchanged, apart from last_used_at (volatile).
    expect(await digestA(), seen.join('\n')).toEqual(before);
  });

  it('filters and page cursors naming A’s ids list nothing of A', async () => {
    const list = await trpc(w.b.apiKey, 'alerts.list', { meter_id: w.meterA.id }, 'query');
    expect(list.status).toBe(200);
    expect(list.json.result.data.alerts).toEqual([]);
    const paged = await trpc(w.b.apiKey, 'alerts.list', { before: new Date(Date.now() + 60_000).toISOString(), before_id: w.alertA.id }, 'query');
    expect(paged.status).toBe(200);
    expect(JSON.stringify(paged.json)).not.toContain(w.alertA.id);
    const events = await trpc(w.b.apiKey, 'customers.events', { user_id: 'ann', meter_id: w.meterA.id }, 'query');
    expect([200, 404, 422]).toContain(events.status);
    if (events.status === 200) expect(events.json.result.data.events).toEqual([]);
  });

  it('an alert mute naming A’s meter is refused (404), not recorded in B’s tenant', async () => {
    expect((await w.callB('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
    const before = await digestA();
    const r = await trpc(w.b.apiKey, 'alerts.mute', { user_id: 'ann', meter_id: w.meterA.id, muted: true }, 'mutation');
    expect(r.status, r.text).toBe(404);
    expect(await digestA()).toEqual(before);
  });
});

describe('the dashboard with creator B’s session, naming creator A’s ids', () => {
  const D = '/creator/dashboard/usage';
  const page = (path: string) => raw(path, { headers: { cookie: w.sessionB.cookie } });
  const post = (path: string, fields: Record<string, string>) =>
    raw(path, {
      method: 'POST',
      headers: { cookie: w.sessionB.cookie, 'content-type': 'application/x-www-form-urlencoded', origin: server().url },
      body: new URLSearchParams({ csrf: w.sessionB.csrf, ...fields }).toString(),
    });

  it('pages of A’s meter, alert and webhook endpoint answer 404 and show nothing of A', async () => {
    for (const path of [`${D}/meters/${w.meterA.id}`, `${D}/alerts/${w.alertA.id}`, `${D}/settings/webhooks/${w.endpointA.id}`]) {
      const r = await page(path);
      const html = await r.text();
      expect(r.status, path).toBe(404);
      expect(html, path).not.toContain('secret-path');
      expect(html, path).not.toContain('ann@a.example');
    }
    for (const path of [`${D}/customers?meter=${w.meterA.id}`, `${D}/trends?meter=${w.meterA.id}`, `${D}/alerts?meter_id=${w.meterA.id}`]) {
      const r = await page(path);
      const html = await r.text();
      expect(r.status, path).toBeLessThan(500);
      expect(html, path).not.toContain('ann@a.example');
      expect(html, path).not.toContain(w.alertA.id);
    }
  });

  it('form posts against A’s objects change nothing of A', async () => {
    const before = await digestA();
    const posts: Array<[string, Record<string, string>]> = [
      [`${D}/keys`, { intent: 'revoke', id: w.extraKeyA.id }],
      [`${D}/alerts`, { intent: 'acknowledge', id: w.alertA.id }],
      [`${D}/alerts`, { intent: 'mute', user_id: 'ann', meter_id: w.meterA.id }],
      [`${D}/meters/${w.meterA.id}`, { intent: 'archive' }],
      [`${D}/meters/${w.meterA.id}`, { intent: 'save', display_name: 'hijacked', event_name: 'calls', aggregation_type: 'sum', unit_name: 'calls' }],
      [`${D}/settings/webhooks/${w.endpointA.id}`, { intent: 'test' }],
      [`${D}/settings/webhooks/${w.endpointA.id}`, { intent: 'replay', message_id: w.messageIdA }],
    ];
    for (const [path, fields] of posts) {
      const r = await post(path, fields);
      expect(r.status, `${path} ${fields.intent}: ${(await r.text()).slice(0, 200)}`).toBeGreaterThanOrEqual(400);
    }
    expect(await digestA()).toEqual(before);
  });

  it('the session-served tRPC route answers 404 to A’s ids', async () => {
    const before = await digestA();
    for (const [procedure, input, kind] of crossTenantCalls()) {
      const r =
        kind === 'query'
          ? await raw(`/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers: { cookie: w.sessionB.cookie } })
          : await raw(`/api/trpc/${procedure}`, {
              method: 'POST',
              headers: { cookie: w.sessionB.cookie, 'content-type': 'application/json', 'x-csrf-token': w.sessionB.csrf, origin: server().url },
              body: JSON.stringify(input),
            });
      const text = await r.text();
      expect([404, 422], `${procedure}: ${text.slice(0, 300)}`).toContain(r.status);
      expect(text).not.toContain('secret-path');
    }
    expect(await digestA()).toEqual(before);
  });
});

describe('browser tokens', () => {
  it('a token for A’s user tracks and checks only that user, and reaches nothing else', async () => {
    const minted = await w.callA('POST', '/api/usage/tokens', { user_id: 'ann' });
    expect(minted.status).toBe(201);
    const t = api(server().url, minted.json.token);
    expect((await t('POST', '/api/usage/track', { event_name: 'calls', user_id: 'bob' })).status).toBe(403);
    expect((await t('GET', '/api/usage/check?user_id=bob&event_name=calls')).status).toBe(403);
    const batch = await t('POST', '/api/usage/track', [{ event_name: 'calls', user_id: 'bob' }]);
    expect(batch.json.results[0].status).toBe(403);
    for (const [method, path] of [
      ['GET', '/api/usage/meters'],
      ['GET', `/api/usage/customers/ann/usage`],
      ['GET', '/api/usage/alerts'],
      ['POST', '/api/usage/tokens'],
      ['GET', '/api/usage/me'],
    ] as const) {
      const r = await t(method, path, method === 'POST' ? { user_id: 'bob' } : undefined);
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    const q = await trpc(minted.json.token, 'usage.check', { user_id: 'bob', event_name: 'calls' }, 'query');
    expect(q.status).toBe(403);
    const tr = await trpc(minted.json.token, 'usage.trackBatch', [{ event_name: 'calls', user_id: 'bob' }], 'mutation');
    expect(tr.json.result.data.results[0].status).toBe(403);
    // The dashboard's tRPC route does not take a bearer token as a session.
    const me = await raw('/api/trpc/auth.me', { headers: { authorization: `Bearer ${minted.json.token}` } });
    expect(me.status).toBe(403);
  });
});

describe('scoped keys', () => {
  it('a track-only key reaches no read or admin route or procedure', async () => {
    const { secret } = await (await import('../server/services/api-keys.js')).createApiKey(server().rt, w.a.creator.id, { name: 'track only', scopes: ['track'] });
    const t = api(server().url, secret);
    const before = await digestA();
    const rest: Array<[string, string, unknown?]> = [
      ['GET', '/api/usage/meters'],
      ['GET', `/api/usage/meters/${w.meterA.id}`],
      ['PATCH', `/api/usage/meters/${w.meterA.id}`, { display_name: 'x' }],
      ['GET', '/api/usage/customers/ann/usage'],
      ['PUT', '/api/usage/customers/ann', { plan_name: 'pro' }],
      ['GET', '/api/usage/alerts'],
      ['GET', `/api/usage/alerts/${w.alertA.id}`],
      ['POST', `/api/usage/alerts/${w.alertA.id}/acknowledge`],
      ['GET', '/api/usage/webhooks'],
      ['GET', `/api/usage/webhooks/${w.endpointA.id}/deliveries`],
      ['GET', '/api/usage/keys'],
      ['GET', '/api/usage/settings'],
      ['GET', '/api/usage/settings/alerts'],
      ['GET', '/api/usage/billing/status'],
      ['GET', '/api/usage/settings/stripe'],
    ];
    for (const [method, path, body] of rest) {
      const r = await t(method, path, body);
      expect(r.status, `${method} ${path}: ${r.text.slice(0, 200)}`).toBe(403);
    }
    const procedures: Array<[string, unknown, 'query' | 'mutation']> = [
      ['customers.get', { user_id: 'ann' }, 'query'],
      ['customers.events', { user_id: 'ann' }, 'query'],
      ['customers.top', { meter_id: w.meterA.id }, 'query'],
      ['insights.overview', undefined, 'query'],
      ['revenue.overview', undefined, 'query'],
      ['emails.list', {}, 'query'],
      ['system.queues', undefined, 'query'],
      ['meters.list', {}, 'query'],
      ['alerts.settings', undefined, 'query'],
      ['webhooks.list', undefined, 'query'],
      ['billing.status', undefined, 'query'],
    ];
    for (const [procedure, input, kind] of procedures) {
      const r = await trpc(secret, procedure, input ?? {}, kind);
      expect(r.status, `${procedure}: ${r.text.slice(0, 200)}`).toBe(403);
    }
    expect(await digestA()).toEqual(before);
  });

  it('a read-only key changes nothing', async () => {
    const readKey = w.extraKeyA.api_key as string;
    const before = await digestA();
    for (const [procedure, input] of [
      ['meters.update', { id: w.meterA.id, patch: { display_name: 'x' } }],
      ['alerts.acknowledge', { id: w.alertA.id }],
      ['alerts.mute', { user_id: 'ann', meter_id: w.meterA.id }],
      ['webhooks.sendTest', { id: w.endpointA.id }],
      ['webhooks.replay', { message_id: w.messageIdA }],
      ['customers.upsert', { user_id: 'ann', customer: { plan_name: 'pro' } }],
      ['apiKeys.create', { name: 'x', scopes: ['admin'] }],
      ['billing.sync', undefined],
      ['settings.update', { default_plan: 'pro' }],
    ] as const) {
      const r = await trpc(readKey, procedure, input ?? {}, 'mutation');
      expect(r.status, `${procedure}: ${r.text.slice(0, 200)}`).toBe(403);
    }
    const hooks = await trpc(readKey, 'webhooks.get', { id: w.endpointA.id }, 'query');
    expect(hooks.status).toBe(200);
    expect(hooks.text).not.toContain('secret-path');
    expect(await digestA()).toEqual(before);
  });
});

describe('group commit: two creators in one transaction', () => {
  it('the same idempotency keys sent at once by A and B are each counted for their own creator, never replayed across', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `shared-key-${i}`);
    const sends = keys.flatMap((key) => [
      w.callA('POST', '/api/usage/track', { event_name: 'calls', user_id: 'zed', value: 1, idempotency_key: key }),
      w.callB('POST', '/api/usage/track', { event_name: 'calls', user_id: 'zed', idempotency_key: key }),
    ]);
    const answers = await Promise.all(sends);
    for (const [i, r] of answers.entries()) {
      expect(r.status, r.text).toBe(201);
      expect(r.headers.get('idempotent-replayed'), `answer ${i}`).toBeNull();
    }
    const usageA = (await w.callA('GET', '/api/usage/customers/zed/usage')).json.meters.find((m: any) => m.event_name === 'calls');
    const usageB = (await w.callB('GET', '/api/usage/customers/zed/usage')).json.meters.find((m: any) => m.event_name === 'calls');
    expect(usageA.used).toBe('30');
    expect(usageB.used).toBe('30');
  });
});
