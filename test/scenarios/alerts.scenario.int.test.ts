/**
 * A creator's story across layers: a customer on a 1,000-call plan uses the API; the
 * creator is told once, by email and by a signed webhook, whatever the concurrency,
 * outages or crashes in between.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_RETRY } from '../../server/services/webhooks.js';
import { startFakeSmtpServer, type FakeSmtpServer } from '../fakes/smtp-server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.js';
import { useTestDatabase } from '../harness/db.js';
import { api, createCreatorWithKey } from '../harness/fixtures.js';
import { startTestServer, type TestServer } from '../harness/server.js';

const { url } = await useTestDatabase();
let smtp: FakeSmtpServer;
let receiver: WebhookReceiver;
let server: TestServer;
const env = () => ({ SMTP_URL: smtp.url, ALLOW_PRIVATE_WEBHOOK_URLS: 'true' });

beforeAll(async () => {
  smtp = await startFakeSmtpServer();
  receiver = await startWebhookReceiver();
  server = await startTestServer(url, { workers: true, env: env() });
});
afterAll(async () => {
  await server.close();
  await receiver.close();
  await smtp.close();
});

const count = async (query: ReturnType<typeof sql>) => Number((await server.rt.ownerDb.execute<{ n: string }>(query))[0]!.n);
const until = async (check: () => Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** A creator with a 1,000-call plan (soft limit at 85 %), a customer on it with an email, a webhook endpoint. */
async function setUp(target: TestServer, hookUrl: string) {
  const { apiKey, creator, email } = await createCreatorWithKey(target.rt);
  const call = api(target.url, apiKey);
  const meter = await call('POST', '/api/usage/meters', {
    event_name: 'api_calls',
    display_name: 'API Calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    plan_limits: [{ plan_name: 'starter', limit_value: 1000, overage_price: '0.01', soft_limit_threshold: 0.85 }],
  });
  expect(meter.status).toBe(201);
  await call('PUT', '/api/usage/customers/cust-1', { plan_name: 'starter', email: 'ada@customer.example' });
  await call('PUT', '/api/usage/settings/alerts', { email_customers: true, upgrade_url: 'https://acme.example/pricing' });
  const endpoint = await call('POST', '/api/usage/webhooks', { url: hookUrl, events: ['usage.soft_limit_reached', 'usage.overage_started'] });
  expect(endpoint.status).toBe(201);
  return { call, creatorId: creator.id, creatorEmail: email, meterId: meter.json.id as string, secret: endpoint.json.secret as string };
}

const calls = (n: number) => Array.from({ length: n }, () => ({ event_name: 'api_calls', user_id: 'cust-1' }));

describe('a customer on a 1,000-call plan', () => {
  it('850 calls → one soft-limit email to creator and customer and one signed webhook; 50 more → nothing new', async () => {
    // Given a creator with a soft limit at 85 % and a webhook endpoint
    const { call, creatorId, creatorEmail, secret } = await setUp(server, `${receiver.url}/story-1`);
    receiver.setSecret(secret, '/story-1');

    // When the customer makes 850 calls
    expect((await call('POST', '/api/usage/track', calls(849))).json.results.every((r: { status: number }) => r.status === 201)).toBe(true);
    const crossing = await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'cust-1' });
    expect(crossing.json.usage.used).toBe('850');
    const sentAt = Date.now();

    // Then one signed webhook arrives within seconds, exactly as DESIGN.md shapes it
    const [hook] = await receiver.waitFor((r) => r.some((w) => w.path === '/story-1'), 5_000);
    expect(Date.now() - sentAt).toBeLessThan(2_000);
    expect(hook!.verified).toBe(true);
    expect(() => new Webhook(secret).verify(hook!.rawBody, hook!.headers)).not.toThrow();
    expect(hook!.body).toMatchObject({
      type: 'usage.soft_limit_reached',
      timestamp: expect.any(String),
      data: { user_id: 'cust-1', event_name: 'api_calls', used: '850', limit: '1000', threshold: '0.85', period_start: expect.any(String), period_end: expect.any(String) },
    });
    // And one email to the creator and one to the customer
    await smtp.waitFor((m) => m.to.includes(creatorEmail), 5_000);
    await smtp.waitFor((m) => m.to.includes('ada@customer.example'), 5_000);
    const customerMail = smtp.messages.find((m) => m.to.includes('ada@customer.example'))!;
    expect(customerMail.text).toContain('https://acme.example/pricing');
    expect(customerMail.text).toContain('850');

    // When 50 more calls arrive, nothing new is sent
    await call('POST', '/api/usage/track', calls(50));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(receiver.received.filter((w) => w.path === '/story-1')).toHaveLength(1);
    expect(smtp.messages.filter((m) => m.to.includes(creatorEmail) || m.to.includes('ada@customer.example'))).toHaveLength(2);
    expect(await count(sql`select count(*) as n from usage_alerts where creator_id = ${creatorId}`)).toBe(1);
    const alerts = await call('GET', '/api/usage/alerts');
    expect(alerts.json.alerts).toMatchObject([{ kind: 'soft_limit_reached', status: 'open', user_id: 'cust-1', used: '850' }]);
    const detail = await call('GET', `/api/usage/alerts/${alerts.json.alerts[0].id}`);
    expect(detail.json.deliveries.map((d: { channel: string; status: string }) => `${d.channel}:${d.status}`).sort()).toEqual(['email:sent', 'email:sent', 'webhook:delivered']);
    const acknowledged = await call('POST', `/api/usage/alerts/${alerts.json.alerts[0].id}/acknowledge`);
    expect(acknowledged.json).toMatchObject({ status: 'acknowledged', acknowledged_by: expect.stringContaining('api_key:') });
  }, 30_000);

  it('200 concurrent events crossing at once → still one alert, one webhook, one email each', async () => {
    const { call, creatorId, creatorEmail, secret } = await setUp(server, `${receiver.url}/story-2`);
    receiver.setSecret(secret, '/story-2');
    await call('POST', '/api/usage/track', calls(750));
    await Promise.all(calls(200).map((e) => call('POST', '/api/usage/track', e)));
    await receiver.waitFor((r) => r.some((w) => w.path === '/story-2'), 5_000);
    await smtp.waitFor((m) => m.to.includes(creatorEmail), 5_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(receiver.received.filter((w) => w.path === '/story-2')).toHaveLength(1);
    expect(smtp.messages.filter((m) => m.to.includes(creatorEmail))).toHaveLength(1);
    expect(await count(sql`select count(*) as n from usage_alerts where creator_id = ${creatorId}`)).toBe(1);
  }, 30_000);

  it('a receiver that is down is delivered to later with the same webhook-id; overage starts past the limit', async () => {
    const { call, secret } = await setUp(server, `${receiver.url}/story-3`);
    receiver.setSecret(secret, '/story-3');
    const saved = [...WEBHOOK_RETRY.delaysMs];
    WEBHOOK_RETRY.delaysMs.splice(0, saved.length, 200, 200, 200, 200); // 30 s of outage, compressed
    try {
      receiver.failWith(503, 3);
      expect((await call('POST', '/api/usage/track', calls(1000))).status).toBe(200);
      expect((await call('POST', '/api/usage/track', calls(1)[0])).json.usage.used).toBe('1001');
      const delivered = await receiver.waitFor((r) => r.filter((w) => w.path === '/story-3' && w.status === 200).length >= 2, 20_000);
      const mine = delivered.filter((w) => w.path === '/story-3');
      const byType = new Map<string, Set<string>>();
      for (const w of mine) byType.set(w.body.type, (byType.get(w.body.type) ?? new Set()).add(w.id));
      // Each message kept its webhook-id across its failed and successful attempts.
      expect([...byType.keys()].sort()).toEqual(['usage.overage_started', 'usage.soft_limit_reached']);
      for (const ids of byType.values()) expect(ids.size).toBe(1);
      expect(mine.filter((w) => w.status === 503).length).toBeGreaterThan(0);
    } finally {
      WEBHOOK_RETRY.delaysMs.splice(0, WEBHOOK_RETRY.delaysMs.length, ...saved);
      receiver.answerNormally();
    }
  }, 40_000);

  it('a new billing period allows fresh alerts', async () => {
    const { call, apiKey, creatorId } = await (async () => {
      const setup = await setUp(server, `${receiver.url}/story-4`);
      receiver.setSecret(setup.secret, '/story-4');
      const { creatorId } = setup;
      const key = (await setup.call('POST', '/api/usage/keys', { name: 'later', scopes: ['admin'] })).json.api_key as string;
      return { call: setup.call, apiKey: key, creatorId };
    })();
    await call('POST', '/api/usage/track', calls(850));
    await receiver.waitFor((r) => r.some((w) => w.path === '/story-4'), 5_000);
    const now = new Date();
    const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 2));
    const later = await startTestServer(url, { workers: false, env: env(), now: () => nextMonth });
    try {
      const response = await api(later.url, apiKey)('POST', '/api/usage/track', calls(850));
      expect(response.json.results.at(-1).event.usage.used).toBe('850');
      await receiver.waitFor((r) => r.filter((w) => w.path === '/story-4').length === 2, 8_000);
      const periods = await server.rt.ownerDb.execute<{ period_start: string }>(
        sql`select period_start from usage_alerts where creator_id = ${creatorId} order by period_start`,
      );
      expect(periods).toHaveLength(2);
    } finally {
      await later.close();
    }
  }, 30_000);
});

describe('a worker killed mid-delivery', () => {
  it('leaves one alert, one email per recipient and one webhook id, delivered once another worker takes over', async () => {
    // A receiver that holds the first delivery open (the worker is killed meanwhile) and accepts later ones.
    const seen: Array<{ id: string; answered: boolean }> = [];
    let firstArrived!: () => void;
    const firstArrival = new Promise<void>((resolve) => (firstArrived = resolve));
    const hanging = http.createServer((req, res) => {
      const id = String(req.headers['webhook-id']);
      req.resume();
      if (seen.length === 0) {
        seen.push({ id, answered: false });
        firstArrived();
        return; // never answered
      }
      seen.push({ id, answered: true });
      res.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;

    // The API server runs without workers; workers are separate processes, as in production.
    const apiOnly = await startTestServer(url, { workers: false, env: env() });
    const workerEnv = { ...process.env, DATABASE_URL: url, SMTP_URL: smtp.url, ALLOW_PRIVATE_WEBHOOK_URLS: 'true', LOG_LEVEL: 'warn', NODE_ENV: 'test' as const };
    const startWorker = () => spawn('node', ['bin/staryer-usage.mjs', 'worker'], { env: workerEnv, stdio: process.env.SCENARIO_WORKER_LOGS ? 'inherit' : 'ignore' });
    const worker: ChildProcess = startWorker();
    let replacement: ChildProcess | undefined;
    try {
      // The in-process workers of the shared test server must not take these jobs: stop them.
      await server.booted.rt.boss.offWork('webhooks.deliver');
      const { call, creatorId, creatorEmail } = await setUp(apiOnly, hookUrl);
      await call('POST', '/api/usage/track', calls(850));
      await Promise.race([firstArrival, new Promise((_, reject) => setTimeout(() => reject(new Error('no delivery attempt')), 15_000))]);
      worker.kill('SIGKILL');
      replacement = startWorker();
      // The killed worker's claim lapses WEBHOOK_TIMEOUT_MS (10 s) + 30 s after the attempt began; the
      // job that takes over is due 1 s later and is fetched at a worker's next poll (up to 5 s, no
      // NOTIFY for a delayed job): ≈ 46 s at worst, so 45 s failed now and then.
      await until(async () => seen.some((s) => s.answered), 60_000).catch(async (error: unknown) => {
        const jobs = await server.rt.ownerDb.execute(sql`select name, state, retry_count, retry_limit, heartbeat_seconds, heartbeat_on, started_on, start_after, output from pgboss.job where name in ('webhooks.deliver', 'alerts.notify') order by created_on`);
        console.error(JSON.stringify(jobs, null, 1));
        throw error;
      });

      expect(new Set(seen.map((s) => s.id)).size).toBe(1); // at-least-once, always the same webhook-id
      expect(await count(sql`select count(*) as n from usage_alerts where creator_id = ${creatorId}`)).toBe(1);
      expect(await count(sql`select count(*) as n from webhook_messages where creator_id = ${creatorId}`)).toBe(1);
      expect(await count(sql`select count(*) as n from email_messages where creator_id = ${creatorId} and recipient = 'creator'`)).toBe(1);
      await smtp.waitFor((m) => m.to.includes(creatorEmail), 10_000);
      const mails = smtp.messages.filter((m) => m.to.includes(creatorEmail));
      expect(new Set(mails.map((m) => m.messageId)).size).toBe(1);
    } finally {
      worker.kill('SIGKILL');
      replacement?.kill('SIGTERM');
      await apiOnly.close();
      hanging.closeAllConnections();
      hanging.close();
    }
  }, 90_000);
});

describe('bad alert settings', () => {
  it('get problem JSON naming the field and change nothing', async () => {
    const { apiKey } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    const before = (await call('GET', '/api/usage/settings/alerts')).json;
    for (const [body, field] of [
      [{ creator_email: 'not-an-email' }, 'creator_email'],
      [{ email_customers: 'yes' }, 'email_customers'],
      [{ email_kinds: ['everything'] }, 'email_kinds[0]'],
      [{ upgrade_url: 'javascript:alert(1)' }, 'upgrade_url'],
      [{ colour: 'red' }, 'colour'],
    ] as const) {
      const response = await call('PUT', '/api/usage/settings/alerts', body);
      expect(response.status, JSON.stringify(body)).toBe(422);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.json.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect((await call('GET', '/api/usage/settings/alerts')).json).toEqual(before);
    expect((await call('GET', '/api/usage/alerts?kind=loud')).status).toBe(422);
  });
});
