/**
 * One creator's endpoint that never answers holds one delivery at a time, not the workers:
 * every other creator's webhooks go out within seconds meanwhile.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENDPOINT_IN_FLIGHT, WEBHOOK_RETRY } from '../server/services/webhooks.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { eventually } from './harness/wait.js';

const { url } = await useTestDatabase();
const DEFAULT_RETRY = structuredClone(WEBHOOK_RETRY);
let server: TestServer;
let strict: TestServer;

beforeAll(async () => {
  server = await startTestServer(url, { workers: true, env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'true', WEBHOOK_TIMEOUT_MS: '6000' } });
  strict = await startTestServer(url, { env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'false' } });
});
afterAll(async () => {
  await strict?.close();
  await server?.close();
});
afterEach(() => {
  Object.assign(WEBHOOK_RETRY, structuredClone(DEFAULT_RETRY));
});

const EVENTS = ['usage.soft_limit_reached', 'usage.hard_limit_reached', 'usage.overage_started', 'usage.threshold_reached'];

type Got = { headers: http.IncomingHttpHeaders; raw: string; at: number };

/** A plain receiving backend: keeps every request, answers what `answer` says. */
async function backend(answer: (n: number, req: Got) => number = () => 200) {
  const got: Got[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const g = { headers: req.headers, raw: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      got.push(g);
      const status = answer(got.length, g);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`answer ${status}`);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    got,
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    close: () => {
      srv.closeAllConnections();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** What a creator's backend does with each request (README: npm i standardwebhooks). */
function verify(secret: string, g: Got) {
  return new Webhook(secret).verify(g.raw, {
    'webhook-id': String(g.headers['webhook-id']),
    'webhook-timestamp': String(g.headers['webhook-timestamp']),
    'webhook-signature': String(g.headers['webhook-signature']),
  }) as Record<string, any>;
}

async function creator(target: TestServer = server) {
  const { apiKey, creator } = await createCreatorWithKey(target.rt);
  return { call: api(target.url, apiKey), creatorId: creator.id, apiKey };
}
type Call = Awaited<ReturnType<typeof creator>>['call'];

async function endpoint(call: Call, hookUrl: string, events = EVENTS) {
  const r = await call('POST', '/api/usage/webhooks', { url: hookUrl, events });
  expect(r.status, r.text).toBe(201);
  return r.json as { id: string; secret: string };
}

/** A meter on a 10-unit plan and a customer on it; `cross()` raises an overage_started alert (and a soft one). */
async function usageSetup(call: Call) {
  const eventName = `ev_${randomBytes(3).toString('hex')}`;
  const meter = await call('POST', '/api/usage/meters', {
    event_name: eventName, display_name: 'Calls', aggregation_type: 'sum', unit_name: 'calls',
    plan_limits: [{ plan_name: 'pro', limit_value: 10, soft_limit_threshold: 0.8 }],
  });
  expect(meter.status, meter.text).toBe(201);
  let n = 0;
  return {
    meterId: meter.json.id as string,
    async cross(userId = `u_${++n}_${randomBytes(2).toString('hex')}`) {
      expect((await call('PUT', `/api/usage/customers/${userId}`, { plan_name: 'pro' })).status).toBe(201);
      const t = await call('POST', '/api/usage/track', { event_name: eventName, user_id: userId, value: 11 });
      expect(t.status, t.text).toBe(201);
      return userId;
    },
  };
}

describe('an endpoint that never answers', () => {
  it('one creator’s endpoint that never answers does not hold up another creator’s webhooks until its attempts time out', async () => {
    // Creator X: an endpoint that takes every request and never answers (a blackholed or
    // wedged receiver: each attempt lasts WEBHOOK_TIMEOUT_MS, here 6 s).
    const hanging: Array<{ at: number; res: http.ServerResponse }> = [];
    const wedged = http.createServer((_req, res) => void hanging.push({ at: Date.now(), res }));
    await new Promise<void>((r) => wedged.listen(0, '127.0.0.1', r));
    const fast = await backend();
    try {
      const x = await creator();
      await endpoint(x.call, `http://127.0.0.1:${(wedged.address() as AddressInfo).port}/hook`, ['usage.overage_started']);
      const xUsage = await usageSetup(x.call);
      // A few dozen of X's customers go over their limit (one overage message each).
      for (let i = 0; i < 45; i++) await xUsage.cross();
      // Its first attempts are on their way to time out, and its backlog is being worked.
      await eventually(async () => hanging.length, (n) => n >= 1, 20_000);
      await new Promise((r) => setTimeout(r, 1_000));

      // Creator Y, unrelated, with a healthy endpoint: one customer goes over.
      const y = await creator();
      const yEndpoint = await endpoint(y.call, `${fast.url}/hook`, ['usage.overage_started']);
      const yUsage = await usageSetup(y.call);
      const crossedAt = Date.now();
      await yUsage.cross();
      await eventually(async () => fast.got.length, (n) => n >= 1, 30_000);
      const deliveredAt = fast.got[0]!.at;
      expect(verify(yEndpoint.secret, fast.got[0]!).type).toBe('usage.overage_started');
      // Y's backend gets its webhook within seconds of the crossing (README: "workers notify
      // within seconds"; "a slow receiver ties up nothing else"), not once X's attempts have
      // run out their timeout.
      expect((deliveredAt - crossedAt) / 1000, `seconds from Y's crossing to Y's delivery; X's wedged requests so far: ${hanging.length}`).toBeLessThan(3);
      // And X's receiver never had more than a healthy endpoint's few requests open at once.
      const open = Math.max(...hanging.map((h) => hanging.filter((o) => o.at <= h.at && o.at + 6_000 > h.at).length));
      expect(open).toBeLessThanOrEqual(ENDPOINT_IN_FLIGHT.healthy);
    } finally {
      for (const h of hanging) if (!h.res.writableEnded) h.res.destroy();
      wedged.closeAllConnections();
      wedged.close();
      await fast.close();
    }
  }, 60_000);
});
