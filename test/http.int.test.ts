import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { REST_ROUTES } from '../server/http/rest.js';
import { authenticateSession, createSession } from '../server/services/sessions.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

const { url } = await useTestDatabase();
let server: TestServer;
let apiKey: string;
beforeAll(async () => {
  server = await startTestServer(url);
  ({ apiKey } = await createCreatorWithKey(server.rt));
});
afterAll(() => server.close());

const raw = (path: string, init: RequestInit = {}) => fetch(server.url + path, init);

describe('operational endpoints', () => {
  it('GET /api/health answers {"status":"ok"} when the database answers', async () => {
    const response = await raw('/api/health');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('GET /metrics exposes request counts, latencies, database and queue gauges in Prometheus text', async () => {
    await raw('/api/health');
    const response = await raw('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/staryer_http_requests_total\{method="GET",route="\/api\/health",status="200"\} \d+/);
    expect(text).toContain('staryer_http_request_duration_seconds_bucket');
    expect(text).toMatch(/staryer_db_up 1/);
    expect(text).toMatch(/staryer_db_connections\{state="(idle|active)"\} \d+/);
    expect(text).toMatch(/staryer_job_queue_depth\{queue="maintenance.purge-sessions"\} \d+/);
  });

  it('GET /metrics tells how far behind a queue is: the age of its oldest job that could run now', async () => {
    const oldest = async (queue: string) => {
      const text = await (await raw('/metrics')).text();
      const match = new RegExp(`^staryer_job_oldest_ready_seconds\\{queue="${queue.replace('.', '\\.')}"\\} (\\S+)$`, 'm').exec(text);
      expect(match, text).not.toBeNull();
      return Number(match![1]);
    };
    // This server runs no workers: a job waits, and its age grows; a queue with none is at 0.
    await server.rt.boss.send('alerts.resolve-closed', {});
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await oldest('alerts.resolve-closed')).toBeGreaterThanOrEqual(1);
    expect(await oldest('maintenance.purge-rollup-batches')).toBe(0);
    // A job scheduled for later cannot run yet: it is not lag.
    await server.rt.boss.send('maintenance.purge-rollup-batches', {}, { startAfter: 3600 });
    expect(await oldest('maintenance.purge-rollup-batches')).toBe(0);
  });

  it('GET /metrics counts ingestion: events by outcome, transactions by result, events per commit, commit time and queue wait', async () => {
    const call = api(server.url, apiKey);
    expect((await call('POST', '/api/usage/meters', { event_name: 'metrics_probe', display_name: 'Probe', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
    const scrape = async () => {
      const text = await (await raw('/metrics')).text();
      const read = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
      return {
        committed: read(/^staryer_ingest_transactions_total\{result="committed"\} (\d+)$/m),
        events: read(/^staryer_ingest_group_events_sum (\d+)$/m),
        commits: read(/^staryer_ingest_commit_seconds_count (\d+)$/m),
        waits: read(/^staryer_ingest_queue_wait_seconds_count (\d+)$/m),
        accepted: read(/^staryer_ingest_events_total\{outcome="accepted"\} (\d+)$/m),
        replayed: read(/^staryer_ingest_events_total\{outcome="replayed"\} (\d+)$/m),
        invalid: read(/^staryer_ingest_events_total\{outcome="validation_failed"\} (\d+)$/m),
        unknownMeter: read(/^staryer_ingest_events_total\{outcome="unknown_meter"\} (\d+)$/m),
      };
    };
    const before = await scrape();
    expect((await call('POST', '/api/usage/track', { event_name: 'metrics_probe', user_id: 'm1', idempotency_key: 'metrics-1' })).status).toBe(201);
    const batch = await call('POST', '/api/usage/track', [
      ...[1, 2, 3].map((i) => ({ event_name: 'metrics_probe', user_id: `m${i}` })),
      { event_name: 'metrics_probe', user_id: 'm1', value: 'lots' },
      { event_name: 'no_such_meter', user_id: 'm1' },
      { event_name: 'metrics_probe', user_id: 'm1', idempotency_key: 'metrics-1' },
    ]);
    expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual([201, 201, 201, 422, 422, 201]);
    // An event refused before any transaction is not committed: it is counted by its problem.
    expect((await call('POST', '/api/usage/track', { event_name: 'metrics_probe', user_id: 'm1', value: -1 })).status).toBe(422);
    expect(await scrape()).toEqual({
      committed: before.committed + 2,
      // Judged inside the two transactions: 1, then 3 new + the unknown meter + the replay.
      events: before.events + 6,
      commits: before.commits + 2,
      waits: before.waits + 2,
      accepted: before.accepted + 4,
      replayed: before.replayed + 1,
      invalid: before.invalid + 2,
      unknownMeter: before.unknownMeter + 1,
    });
  });

  it('GET /metrics answers only this machine, or whoever sends METRICS_TOKEN', async () => {
    // Behind a trusted proxy the client is the forwarded address: a remote one is refused.
    const proxied = await startTestServer(url, { env: { TRUST_PROXY: 'true' } });
    onTestFinished(() => proxied.close());
    const remote = await fetch(`${proxied.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(remote.status).toBe(403);
    expect(await remote.text()).not.toContain('staryer_http_requests_total');
    expect((await fetch(`${proxied.url}/metrics`, { headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(200);
    // The proxy appends the address it saw: what the client wrote before it proves nothing.
    expect((await fetch(`${proxied.url}/metrics`, { headers: { 'x-forwarded-for': '127.0.0.1, 203.0.113.7' } })).status).toBe(403);
    // Behind two proxies (a CDN, then nginx), the client is the second entry from the end.
    const twice = await startTestServer(url, { env: { TRUST_PROXY: '2' } });
    onTestFinished(() => twice.close());
    const through = (xff: string) => fetch(`${twice.url}/metrics`, { headers: { 'x-forwarded-for': xff } }).then((r) => r.status);
    expect(await through('127.0.0.1, 198.51.100.1')).toBe(200);
    expect(await through('203.0.113.7, 198.51.100.1')).toBe(403);
    expect(await through('127.0.0.1, 203.0.113.7, 198.51.100.1')).toBe(403);

    const token = 'scraper-token-0123456789';
    const guarded = await startTestServer(url, { env: { METRICS_TOKEN: token } });
    onTestFinished(() => guarded.close());
    expect((await fetch(`${guarded.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const scraped = await fetch(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('staryer_http_requests_total');
  });

  it('GET /api/openapi.json is valid OpenAPI 3.1 covering every REST route, and /api/docs renders it', async () => {
    const doc = (await (await raw('/api/openapi.json')).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    await SwaggerParser.validate(structuredClone(doc) as never);
    for (const route of REST_ROUTES) {
      const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
      expect(doc.paths[path]?.[route.method.toLowerCase()], `${route.method} ${path}`).toBeDefined();
    }
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/health', '/metrics', '/api/usage/me', '/api/usage/keys', '/api/usage/keys/{id}']));
    expect(Object.keys(doc.paths['/api/usage/keys']!).sort()).toEqual(['get', 'post']);
    const create = doc.paths['/api/usage/keys']!.post as { requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } };
    expect(Object.keys(create.requestBody.content['application/json']!.schema.properties)).toEqual(['name', 'scopes']);
    // What the answers really carry: problem members beyond the standard ones (402's used,
    // limit…), the idempotency headers, the statuses routes answer.
    const { components } = doc as unknown as { components: { schemas: { Problem: { additionalProperties?: unknown } } } };
    expect(components.schemas.Problem.additionalProperties).not.toBe(false);
    type Op = { parameters?: Array<{ name: string; in: string }>; responses: Record<string, { headers?: Record<string, unknown> }> };
    const track = doc.paths['/api/usage/track']!.post as Op;
    expect(track.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header' }));
    expect(Object.keys(track.responses['201']!.headers ?? {})).toEqual(['Idempotent-Replayed']);
    expect(Object.keys((doc.paths['/api/usage/meters/{id}']!.get as Op).responses)).toEqual(expect.arrayContaining(['404', '422']));
    expect(Object.keys((doc.paths['/api/usage/meters/{id}']!.patch as Op).responses)).toContain('409');
    expect(Object.keys((doc.paths['/api/usage/billing/sync']!.post as Op).responses)).toContain('409');
    const docs = await raw('/api/docs');
    expect(docs.status).toBe(200);
    const html = await docs.text();
    expect(html).toContain('/api/openapi.json');
    const asset = await raw('/api/docs/assets/swagger-ui-bundle.js');
    expect(asset.status).toBe(200);
  });

  it('echoes a sane X-Request-Id and makes one up otherwise', async () => {
    const given = await raw('/api/health', { headers: { 'x-request-id': 'trace-123' } });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    const hostile = await raw('/api/health', { headers: { 'x-request-id': 'a b<script>' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends security headers on every response', async () => {
    for (const path of ['/api/health', '/api/usage/me', '/nope']) {
      const response = await raw(path);
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), path).toBe('strict-origin-when-cross-origin');
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+'/);
    }
  });
});

describe('CORS for the browser SDK', () => {
  it('answers preflights for track and check only, and exposes the replay header', async () => {
    const preflight = await raw('/api/usage/track', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.creator.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const check = await raw('/api/usage/check?user_id=u&event_name=x', { headers: { origin: 'https://app.creator.example' } });
    expect(check.headers.get('access-control-allow-origin')).toBe('*');
    expect(check.status).toBe(401);
    const keys = await raw('/api/usage/keys', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(keys.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('errors are RFC 9457 problem JSON', () => {
  const post = (body: string, headers: Record<string, string>) =>
    raw('/api/usage/keys', { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, ...headers }, body });

  it('malformed JSON → 400', async () => {
    const response = await post('{"name": "x",', { 'content-type': 'application/json' });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ type: expect.stringContaining('malformed-json'), status: 400 });
  });

  it('empty body → 400', async () => {
    expect((await post('', { 'content-type': 'application/json' })).status).toBe(400);
  });

  it('wrong content type → 415', async () => {
    const response = await post('name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(response.status).toBe(415);
    expect(await response.json()).toMatchObject({ status: 415, title: 'Unsupported media type' });
  });

  it('body over 1 MB → 413, whether declared or streamed', async () => {
    const big = 'a'.repeat(1024 * 1024 + 10);
    const response = await post(big, { 'content-type': 'application/json' });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ status: 413 });
  });

  it('a chunked body that grows past 1 MB → 413 without reading it all', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/api/usage/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => resolve(res.statusCode ?? 0));
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, ' ');
      for (let i = 0; i < 20; i++) req.write(chunk);
      req.end();
    });
    expect(status).toBe(413);
  });

  it('unknown path → 404, wrong method → 405 with Allow', async () => {
    const missing = await raw('/api/usage/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    const wrong = await raw('/api/usage/keys', { method: 'PATCH', headers: { authorization: `Bearer ${apiKey}` } });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, POST');
    // HEAD, listed, is answered as GET without a body
    const head = await raw('/api/usage/keys', { method: 'HEAD', headers: { authorization: `Bearer ${apiKey}` } });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    // A route without GET lists no HEAD
    const track = await raw('/api/usage/track', { method: 'GET', headers: { authorization: `Bearer ${apiKey}` } });
    expect(track.status).toBe(405);
    expect(track.headers.get('allow')).toBe('POST');
  });

  it('database unavailable → 503 with Retry-After, no stack trace', async () => {
    const down = await startTestServer(url);
    await down.booted.appSql.end({ timeout: 1 });
    try {
      const health = await fetch(`${down.url}/api/health`);
      expect(health.status).toBe(503);
      expect(health.headers.get('retry-after')).toBe('5');
      const body = (await health.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ status: 503, type: expect.stringContaining('database-unavailable') });
      const keys = await fetch(`${down.url}/api/usage/keys`, { headers: { authorization: 'Bearer su_live_000000000000000000000000000000000000' } });
      expect(keys.status).toBe(401); // refused by the checksum before any database call
      const { apiKey: fresh } = await createCreatorWithKey(server.rt);
      const list = await fetch(`${down.url}/api/usage/keys`, { headers: { authorization: `Bearer ${fresh}` } });
      expect(list.status).toBe(503);
      expect(list.headers.get('retry-after')).toBe('5');
      expect(await list.text()).not.toMatch(/at .*\.ts:\d+/);
    } finally {
      await down.close();
    }
  });
});

describe('tRPC over HTTP', () => {
  it('serves procedures with the API key and carries the problem on errors', async () => {
    const ok = await api(server.url, apiKey)('GET', '/api/trpc/auth.me');
    expect(ok.status).toBe(200);
    expect(ok.json.result.data.auth).toBe('api_key');

    const denied = await api(server.url, 'su_live_000000000000000000000000000000000000')('GET', '/api/trpc/auth.me');
    expect(denied.status).toBe(401);
    expect(denied.json.error.data.problem).toMatchObject({ status: 401, type: expect.stringContaining('unauthorized') });

    const invalid = await api(server.url, apiKey)('POST', '/api/trpc/apiKeys.create', { name: '', scopes: ['nope'] });
    expect(invalid.status).toBe(422);
    expect(invalid.json.error.data.problem.errors.map((e: { field: string }) => e.field).sort()).toEqual(['name', 'scopes[0]']);
  });

  it('answers a body that is not JSON with 400 and one past 1 MB with 413, as REST does', async () => {
    const post = (body: string) =>
      raw('/api/trpc/usage.track', { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body });
    const malformed = await post('{');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { data: { problem: unknown } } }).error.data.problem).toMatchObject({ status: 400, type: expect.stringContaining('malformed-json') });
    const huge = await post(JSON.stringify({ event_name: 'calls', user_id: 'u', properties: { pad: 'x'.repeat(1_100_000) } }));
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { data: { problem: unknown } } }).error.data.problem).toMatchObject({ status: 413, type: expect.stringContaining('payload-too-large') });
  });
});

describe('the dashboard', () => {
  it('takes a tRPC mutation with the session cookie only from our own origin and with the session’s CSRF token', async () => {
    const dashboard = await startTestServer(url, { pages: true });
    onTestFinished(() => dashboard.close());
    const { creator } = await createCreatorWithKey(server.rt);
    const { sessionToken } = await createSession(server.rt, { creatorId: creator.id, ip: null, userAgent: null });
    const { csrfSecret } = (await authenticateSession(server.rt, sessionToken))!;
    const create = (eventName: string, headers: Record<string, string>) =>
      fetch(`${dashboard.url}/api/trpc/meters.create`, {
        method: 'POST',
        headers: { cookie: `staryer_session=${sessionToken}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ event_name: eventName, display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' }),
      });
    const crossSite = await create('from_elsewhere', { origin: 'https://evil.example', 'x-csrf-token': csrfSecret });
    expect(crossSite.status).toBe(403);
    const noToken = await create('without_token', {});
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toMatchObject({ status: 403, type: expect.stringContaining('csrf-token-invalid'), detail: expect.stringContaining('x-csrf-token') });
    // One character changed (to another character: a secret ending in x stayed right, 1 run in 64)
    const wrong = `${csrfSecret.slice(0, -1)}${csrfSecret.endsWith('x') ? 'y' : 'x'}`;
    expect(wrong).not.toBe(csrfSecret);
    expect((await create('wrong_token', { 'x-csrf-token': wrong })).status).toBe(403);
    const listed = async () => {
      const response = await fetch(`${dashboard.url}/api/trpc/meters.list`, { headers: { cookie: `staryer_session=${sessionToken}` } });
      expect(response.status).toBe(200); // queries need no token
      return ((await response.json()) as { result: { data: { meters: Array<{ event_name: string }> } } }).result.data.meters.map((m) => m.event_name);
    };
    expect(await listed()).toEqual([]);
    const ours = await create('with_token', { origin: dashboard.url, 'x-csrf-token': csrfSecret });
    expect(ours.status).toBe(200);
    expect(await listed()).toEqual(['with_token']);
  });

  it('refuses a body past 1 MB with 413 before reading it into memory, with or without a session', async () => {
    const dashboard = await startTestServer(url, { pages: true });
    onTestFinished(() => dashboard.close());
    const raw = (path: string, init: RequestInit = {}) => fetch(dashboard.url + path, init);
    const { creator } = await createCreatorWithKey(server.rt);
    const { sessionToken } = await createSession(server.rt, { creatorId: creator.id, ip: null, userAgent: null });
    const big = 'a'.repeat(2 * 1024 * 1024);
    const login = await raw('/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `email=a%40b.co&password=${big}` });
    expect(login.status).toBe(413);
    expect(await login.json()).toMatchObject({ status: 413, type: expect.stringContaining('payload-too-large') });
    const trpc = await raw('/api/trpc/meters.list', {
      method: 'POST',
      headers: { cookie: `staryer_session=${sessionToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pad: big }),
    });
    expect(trpc.status).toBe(413);
    // A body within the limit still reaches the page: a wrong login is answered by the form.
    const small = await raw('/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=a%40b.co&password=wrong-password-1' });
    expect(small.status).toBeLessThan(500);
    expect(small.status).not.toBe(413);
  });
});
