import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REST_ROUTES } from '../server/http/rest.js';
import { startWebhookReceiver, type WebhookReceiver } from './fakes/webhook-receiver.js';
import { createApiKey } from '../server/services/api-keys.js';
import { authenticateSession, createSession } from '../server/services/sessions.js';
import { useTestDatabase } from './harness/db.js';
import { ownerSql, tenantDigest } from './harness/digest.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * Who may call what, across the whole API: every REST route and every tRPC procedure, called
 * with no credentials, a revoked key, a key of each scope, a browser token and a dashboard
 * session without its CSRF token, answers exactly the 401/403 README and OpenAPI name, and a
 * refused call changes nothing.
 */
const { url } = await useTestDatabase();
const server = useTestServer(url, {
  pages: true,
  env: { AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000', ALLOW_PRIVATE_WEBHOOK_URLS: 'true' },
});
const owner = ownerSql(url);

let receiver: WebhookReceiver;
let receiverUrl: string;
beforeAll(async () => {
  receiver = await startWebhookReceiver();
  receiverUrl = `${receiver.url}/hook/secret-path`;
});
afterAll(async () => {
  await owner.end();
  await receiver.close();
});

type W = {
  a: Awaited<ReturnType<typeof createCreatorWithKey>>;
  b: Awaited<ReturnType<typeof createCreatorWithKey>>;
  keys: { track: string; read: string; admin: string; revoked: string; trackRead: string };
  tokenAnn: string;
  meterA: Record<string, any>;
  alertA: Record<string, any>;
  endpointA: Record<string, any>;
  messageIdA: string;
  keyToRevokeId: string;
  sessionA: { cookie: string; csrf: string };
};
let w: W;

beforeAll(async () => {
  const rt = server().rt;
  const a = await createCreatorWithKey(rt);
  const b = await createCreatorWithKey(rt);
  const callA = api(server().url, a.apiKey);
  const meterA = await createMeter(callA, {
    event_name: 'calls',
    display_name: 'Calls',
    aggregation_type: 'sum',
    unit_name: 'calls',
    plan_limits: [{ plan_name: 'free', limit_value: 10, overage_price: '1', soft_limit_threshold: '0.5' }],
  });
  expect((await callA('PUT', '/api/usage/customers/ann', { plan_name: 'free', email: 'ann@a.example' })).status).toBe(201);
  expect((await callA('PUT', '/api/usage/customers/bob', { plan_name: 'free', email: 'bob@a.example' })).status).toBe(201);
  expect((await callA('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann', value: 8 })).status).toBe(201);
  expect((await callA('POST', '/api/usage/track', { event_name: 'calls', user_id: 'bob', value: 3 })).status).toBe(201);
  const alerts = (await callA('GET', '/api/usage/alerts?user_id=ann')).json.alerts as Array<Record<string, any>>;
  const created = await callA('POST', '/api/usage/webhooks', { url: receiverUrl, events: ['usage.soft_limit_reached'] });
  expect(created.status, created.text).toBe(201);
  const test = await callA('POST', `/api/usage/webhooks/${created.json.id}/test`);
  expect(test.status, test.text).toBe(200);
  const mk = async (scopes: Array<'track' | 'read' | 'admin'>) => (await createApiKey(rt, a.creator.id, { name: scopes.join('+'), scopes })).secret;
  const revokedKey = await createApiKey(rt, a.creator.id, { name: 'revoked', scopes: ['admin'] });
  expect((await callA('DELETE', `/api/usage/keys/${revokedKey.key.id}`)).status).toBe(200);
  const toRevoke = await createApiKey(rt, a.creator.id, { name: 'to-revoke', scopes: ['read'] });
  const tokenAnn = (await callA('POST', '/api/usage/tokens', { user_id: 'ann', ttl_seconds: 3600 })).json.token as string;
  const { sessionToken } = await createSession(rt, { creatorId: a.creator.id, ip: '127.0.0.1', userAgent: null });
  const { csrfSecret } = (await authenticateSession(rt, sessionToken))!;
  w = {
    a,
    b,
    keys: { track: await mk(['track']), read: await mk(['read']), admin: a.apiKey, revoked: revokedKey.secret, trackRead: await mk(['track', 'read']) },
    tokenAnn,
    meterA,
    alertA: alerts[0]!,
    endpointA: created.json,
    messageIdA: test.json.message_id,
    keyToRevokeId: toRevoke.key.id,
    sessionA: { cookie: `staryer_session=${sessionToken}`, csrf: csrfSecret },
  };
});

const digest = () => tenantDigest(owner);

function pathOf(route: string): string {
  return route
    .replace(':user_id', 'ann')
    .replace(':message_id', w.messageIdA)
    .replace('/meters/:id', `/meters/${w.meterA.id}`)
    .replace('/alerts/:id', `/alerts/${w.alertA.id}`)
    .replace('/webhooks/:id', `/webhooks/${w.endpointA.id}`)
    .replace('/keys/:id', `/keys/${w.keyToRevokeId}`);
}

type Scope = 'track' | 'read' | 'admin' | 'any' | 'session';
/** Every procedure of appRouter with a valid input naming A's objects, and the scope README/code say it needs. */
function procedureCalls(): Array<[string, unknown, 'query' | 'mutation', Scope]> {
  const meterId = w.meterA.id as string;
  const inTwoHours = new Date(Date.now() + 7_200_000).toISOString();
  const ago = new Date(Date.now() - 30 * 86_400_000).toISOString();
  return [
    ['auth.me', undefined, 'query', 'any'],
    ['auth.logout', undefined, 'mutation', 'session'],
    ['auth.logoutOthers', undefined, 'mutation', 'session'],
    ['auth.changePassword', { current_password: 'x'.repeat(12), new_password: 'y'.repeat(12) }, 'mutation', 'session'],
    ['apiKeys.list', undefined, 'query', 'admin'],
    ['apiKeys.create', { name: 'x', scopes: ['admin'] }, 'mutation', 'admin'],
    ['apiKeys.revoke', { id: w.keyToRevokeId }, 'mutation', 'admin'],
    ['meters.create', { event_name: 'new_m', display_name: 'N', aggregation_type: 'count', unit_name: 'n' }, 'mutation', 'admin'],
    ['meters.list', {}, 'query', 'read'],
    ['meters.get', { id: meterId }, 'query', 'read'],
    ['meters.update', { id: meterId, patch: { display_name: 'hijacked' } }, 'mutation', 'admin'],
    ['meters.archive', { id: meterId }, 'mutation', 'admin'],
    ['meters.limitHistory', { id: meterId }, 'query', 'read'],
    ['meters.preview', { event_name: 'calls', aggregation_type: 'sum', unit_name: 'calls', display_name: 'x' }, 'query', 'read'],
    ['customers.upsert', { user_id: 'ann', customer: { plan_name: 'pro' } }, 'mutation', 'admin'],
    ['customers.usage', { user_id: 'bob' }, 'query', 'read'],
    ['customers.top', { meter_id: meterId }, 'query', 'read'],
    ['customers.get', { user_id: 'bob' }, 'query', 'read'],
    ['customers.events', { user_id: 'bob' }, 'query', 'read'],
    ['settings.get', undefined, 'query', 'read'],
    ['settings.update', { default_plan: 'pro' }, 'mutation', 'admin'],
    ['usage.track', { event_name: 'calls', user_id: 'bob' }, 'mutation', 'track'],
    ['usage.trackBatch', [{ event_name: 'calls', user_id: 'bob' }], 'mutation', 'track'],
    ['usage.check', { user_id: 'bob', event_name: 'calls' }, 'query', 'track'],
    ['usage.createToken', { user_id: 'bob', ttl_seconds: 60 }, 'mutation', 'track'],
    ['alerts.list', {}, 'query', 'read'],
    ['alerts.get', { id: w.alertA.id }, 'query', 'read'],
    ['alerts.acknowledge', { id: w.alertA.id }, 'mutation', 'admin'],
    ['alerts.mute', { user_id: 'ann', meter_id: meterId }, 'mutation', 'admin'],
    ['alerts.settings', undefined, 'query', 'read'],
    ['alerts.updateSettings', { email_customers: true }, 'mutation', 'admin'],
    ['webhooks.create', { url: receiverUrl, events: ['usage.soft_limit_reached'] }, 'mutation', 'admin'],
    ['webhooks.list', undefined, 'query', 'read'],
    ['webhooks.get', { id: w.endpointA.id }, 'query', 'read'],
    ['webhooks.update', { id: w.endpointA.id, patch: { enabled: false } }, 'mutation', 'admin'],
    ['webhooks.delete', { id: w.endpointA.id }, 'mutation', 'admin'],
    ['webhooks.sendTest', { id: w.endpointA.id }, 'mutation', 'admin'],
    ['webhooks.rotateSecret', { id: w.endpointA.id }, 'mutation', 'admin'],
    ['webhooks.replay', { message_id: w.messageIdA }, 'mutation', 'admin'],
    ['webhooks.deliveries', { id: w.endpointA.id }, 'query', 'read'],
    ['billing.stripeSettings', undefined, 'query', 'admin'],
    ['billing.updateStripeSettings', { report_interval_minutes: 10 }, 'mutation', 'admin'],
    ['billing.startConnect', { redirect_uri: 'https://x.example/cb' }, 'mutation', 'admin'],
    ['billing.completeConnect', { code: 'ac_x', state: 'y' }, 'mutation', 'admin'],
    ['billing.sync', undefined, 'mutation', 'admin'],
    ['billing.reconcile', undefined, 'mutation', 'admin'],
    ['billing.linkMeter', { id: meterId }, 'mutation', 'admin'],
    ['billing.status', undefined, 'query', 'read'],
    ['system.queues', undefined, 'query', 'read'],
    ['emails.list', {}, 'query', 'read'],
    ['revenue.overview', undefined, 'query', 'read'],
    ['revenue.whatIf', { meter_id: meterId, plan_name: 'free', limit_value: '1', overage_price: '1' }, 'query', 'read'],
    ['insights.overview', undefined, 'query', 'read'],
    ['insights.trends', { meter_id: meterId, from: ago, to: inTwoHours }, 'query', 'read'],
  ];
}

/** A tRPC call: with a bearer, or with a session cookie (and optionally its CSRF token / an Origin). */
async function trpc(procedure: string, input: unknown, kind: 'query' | 'mutation', auth: { bearer?: string; cookie?: string; csrf?: string; origin?: string } = {}) {
  const headers: Record<string, string> = {};
  if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
  if (auth.cookie) headers.cookie = auth.cookie;
  if (auth.csrf) headers['x-csrf-token'] = auth.csrf;
  if (auth.origin) headers.origin = auth.origin;
  const call = api(server().url);
  return kind === 'query'
    ? call('GET', `/api/trpc/${procedure}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`, undefined, headers)
    : call('POST', `/api/trpc/${procedure}`, input === undefined ? '' : input, { 'content-type': 'application/json', ...headers });
}

const PROBLEM = 'https://staryer.dev/problems/';
const problemOf = (r: Awaited<ReturnType<ReturnType<typeof api>>>) => (r.json?.error?.data?.problem ?? r.json) as { type?: string; status?: number; detail?: string };
const allows = (scope: Scope, cred: 'track' | 'read') => scope === 'any' || scope === cred;

describe('REST: every route × no key, a revoked key, a track key, a read key, a browser token (cells not pinned elsewhere)', () => {
  it('answers 401/403 problem JSON exactly where README/OpenAPI say, and a refused call changes nothing', async () => {
    const before = await digest();
    const bodyFor = (method: string, path: string) =>
      method === 'GET' || (method === 'DELETE' && !path.endsWith('mutes')) ? undefined : path.endsWith('/track') ? { event_name: 'calls', user_id: 'ann', value: 1 } : path.endsWith('/tokens') ? { user_id: 'bob' } : { user_id: 'ann', meter_id: w.meterA.id, name: 'x', scopes: ['admin'] };
    const failures: string[] = [];
    for (const route of REST_ROUTES) {
      const path = pathOf(route.path) + (route.path === '/api/usage/check' ? '?user_id=ann&event_name=calls' : '');
      const cells: Array<[string, string | undefined, number | null, string]> = [
        ['none', undefined, 401, 'unauthorized'],
        ['revoked', w.keys.revoked, 401, 'unauthorized'],
        ['track', w.keys.track, allows(route.scope, 'track') ? null : 403, 'forbidden'],
        ['read', w.keys.read, allows(route.scope, 'read') ? null : 403, 'forbidden'],
        // A browser token: only track and check; /tokens is a track route a token may not call.
        ['token', w.tokenAnn, route.scope === 'track' && !route.path.endsWith('/tokens') ? null : 403, 'forbidden'],
      ];
      for (const [label, cred, status, type] of cells) {
        if (status === null) continue; // allowed cells write on purpose; covered by the feature tests
        const r = await api(server().url, cred)(route.method, path, bodyFor(route.method, route.path));
        const p = problemOf(r);
        if (r.status !== status || p.type !== PROBLEM + type || r.headers.get('content-type') !== 'application/problem+json') {
          failures.push(`${route.method} ${route.path} [${route.scope}] ${label}: ${r.status} ${r.text.slice(0, 160)}`);
        }
        if (label === 'revoked' && !/revoked/.test(p.detail ?? '')) failures.push(`${route.method} ${route.path} revoked: detail ${p.detail}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await digest()).toEqual(before);
  });
});

describe('tRPC: every procedure × the same credentials, and a session cookie without its CSRF token', () => {
  it('the list below covers every procedure of appRouter but the public sign-up and log-in', async () => {
    const { appRouter } = await import('../server/root.js');
    const all = Object.keys((appRouter as unknown as { _def: { procedures: Record<string, unknown> } })._def.procedures).sort();
    expect(procedureCalls().map(([p]) => p).sort()).toEqual(all.filter((p) => p !== 'auth.signup' && p !== 'auth.login'));
  });

  it('answers 401/403 with the problem in error.data.problem where the scope says so, and changes nothing', async () => {
    const before = await digest();
    const failures: string[] = [];
    for (const [procedure, input, kind, scope] of procedureCalls()) {
      // The token is ann's; usage.* inputs name bob: it must be refused for another user (403).
      const tokenAllowed = scope === 'track' && procedure !== 'usage.createToken' && procedure !== 'usage.trackBatch';
      const cells: Array<[string, Parameters<typeof trpc>[3], number | null, string]> = [
        ['none', {}, 401, 'unauthorized'],
        ['revoked', { bearer: w.keys.revoked }, 401, 'unauthorized'],
        // Session-only procedures: a valid key or token is who it says and may not do this — 403, not 401.
        ['track', { bearer: w.keys.track }, scope === 'session' ? 403 : allows(scope, 'track') ? null : 403, 'forbidden'],
        ['read', { bearer: w.keys.read }, scope === 'session' ? 403 : allows(scope, 'read') ? null : 403, 'forbidden'],
        ['token', { bearer: w.tokenAnn }, tokenAllowed ? 403 : scope === 'session' ? 403 : procedure === 'usage.trackBatch' ? null : 403, 'forbidden'],
      ];
      if (kind === 'mutation') cells.push(['session without CSRF token', { cookie: w.sessionA.cookie }, 403, 'csrf-token-invalid']);
      for (const [label, cred, status, type] of cells) {
        if (status === null) continue;
        const r = await trpc(procedure, input, kind, cred);
        const p = problemOf(r);
        if (r.status !== status || p.type !== PROBLEM + type) failures.push(`${procedure} ${label}: ${r.status} ${r.text.slice(0, 160)}`);
      }
    }
    // usage.trackBatch with ann's token for bob: 200, and the event itself refused 403.
    const batch = await trpc('usage.trackBatch', [{ event_name: 'calls', user_id: 'bob' }], 'mutation', { bearer: w.tokenAnn });
    expect(batch.json.result.data.results[0]).toMatchObject({ status: 403, error: { type: PROBLEM + 'forbidden' } });
    expect(failures).toEqual([]);
    expect(await digest()).toEqual(before);
  });

  it('REST routes and their tRPC twins require the same scope (read and track keys get the same status)', async () => {
    const twins: Array<[string, string, unknown, string, unknown, 'query' | 'mutation']> = [
      ['GET', '/api/usage/keys', undefined, 'apiKeys.list', undefined, 'query'],
      ['GET', '/api/usage/settings/stripe', undefined, 'billing.stripeSettings', undefined, 'query'],
      ['GET', '/api/usage/billing/status', undefined, 'billing.status', undefined, 'query'],
      ['GET', '/api/usage/settings/alerts', undefined, 'alerts.settings', undefined, 'query'],
      ['GET', '/api/usage/webhooks', undefined, 'webhooks.list', undefined, 'query'],
      ['GET', '/api/usage/customers/bob/usage', undefined, 'customers.usage', { user_id: 'bob' }, 'query'],
      ['GET', '/api/usage/check?user_id=bob&event_name=calls', undefined, 'usage.check', { user_id: 'bob', event_name: 'calls' }, 'query'],
      ['POST', '/api/usage/tokens', { user_id: 'bob' }, 'usage.createToken', { user_id: 'bob' }, 'mutation'],
      ['GET', '/api/usage/me', undefined, 'auth.me', undefined, 'query'],
    ];
    for (const cred of [w.keys.track, w.keys.read, w.tokenAnn]) {
      for (const [method, path, body, procedure, input, kind] of twins) {
        const rest = await api(server().url, cred)(method, path, body);
        const viaTrpc = await trpc(procedure, input, kind, { bearer: cred });
        expect(viaTrpc.status, `${procedure} vs ${method} ${path}`).toBe(rest.status === 201 ? 200 : rest.status);
      }
    }
  });
});

describe('POST /api/usage/tokens with a browser token', () => {
  it('is refused 403 before its body is validated ("Scope before body", rest.ts), not answered 422 with field errors', async () => {
    const r = await api(server().url, w.tokenAnn)('POST', '/api/usage/tokens', { user_id: 'bob', ttl_seconds: 999_999, extra: 1 });
    expect(r.status, r.text).toBe(403);
    expect(problemOf(r).type).toBe(PROBLEM + 'forbidden');
  });
});

describe('the dashboard’s tRPC route: a session-cookie mutation from another origin', () => {
  it('is refused 403 forbidden, "Cross-site request refused", as README says (even with a valid CSRF token), and changes nothing', async () => {
    const before = await digest();
    const r = await trpc('settings.update', { default_plan: 'pro' }, 'mutation', { cookie: w.sessionA.cookie, csrf: w.sessionA.csrf, origin: 'https://evil.example' });
    expect(await digest()).toEqual(before);
    expect(r.status).toBe(403);
    expect(problemOf(r).type).toBe(PROBLEM + 'forbidden');
    expect(problemOf(r).detail).toBe('Cross-site request refused.');
  });
});

describe('/api itself', () => {
  it('is the API’s: a problem JSON 404 as /api/ answers, not the dashboard’s HTML page', async () => {
    for (const path of ['/api', '/api/']) {
      const answer = await fetch(`${server().url}${path}`);
      expect({ path, status: answer.status, type: answer.headers.get('content-type') }).toEqual({ path, status: 404, type: expect.stringContaining('application/problem+json') });
      expect(((await answer.json()) as { type: string }).type).toBe(`${PROBLEM}not-found`);
    }
  });
});
