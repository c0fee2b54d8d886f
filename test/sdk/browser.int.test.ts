import { sql } from 'drizzle-orm';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { UsageTracker, type UsageError, type UsageTrackingOptions } from '../../sdk/src/index';
import { useTestDatabase } from '../harness/db.js';
import { api, createCreatorWithKey } from '../harness/fixtures.js';
import { useTestServer } from '../harness/server.js';

/**
 * The tracker in a browser, as far as Node can stand in for one: `window` and `document`
 * exist (so the SDK takes its browser paths and hooks `pagehide`), and fetch applies the
 * Fetch standard's keepalive quota — a keepalive request whose body, with the page's
 * other keepalive bodies in flight, passes 64 KiB fails with a network error.
 */
const listeners = new Map<string, Array<() => void>>();
const on = (prefix: string) => (type: string, listener: () => void) => listeners.set(prefix + type, [...(listeners.get(prefix + type) ?? []), listener]);
const globals = globalThis as Record<string, unknown>;
globals.window = { addEventListener: on('window:') };
globals.document = { visibilityState: 'visible', addEventListener: on('document:') };
const fire = (key: string) => (listeners.get(key) ?? []).forEach((listener) => listener());

type Sent = { bytes: number; events: number; keepalive: boolean; result?: number | 'keepalive-quota' };
const sent: Sent[] = [];
let keepaliveInFlight = 0;
const browserFetch: typeof fetch = async (input, init = {}) => {
  const body = typeof init.body === 'string' ? init.body : '';
  const entry: Sent = { bytes: Buffer.byteLength(body), events: body ? (JSON.parse(body) as unknown[]).length : 0, keepalive: !!init.keepalive };
  sent.push(entry);
  if (entry.keepalive && keepaliveInFlight + entry.bytes > 65_536) {
    entry.result = 'keepalive-quota';
    throw new TypeError('Failed to fetch');
  }
  if (entry.keepalive) keepaliveInFlight += entry.bytes;
  try {
    const response = await fetch(input, init);
    entry.result = response.status;
    return response;
  } finally {
    if (entry.keepalive) keepaliveInFlight -= entry.bytes;
  }
};

const { url } = await useTestDatabase();
const testServer = useTestServer(url);
afterAll(async () => {
  delete globals.window;
  delete globals.document;
});
const trackers: UsageTracker[] = [];
afterEach(async () => {
  await Promise.all(trackers.splice(0).map((t) => t.shutdown({ timeoutMs: 1000 })));
  sent.splice(0);
});

async function setup() {
  const { apiKey, creator } = await createCreatorWithKey(testServer().rt);
  const call = api(testServer().url, apiKey);
  expect((await call('POST', '/api/usage/meters', { display_name: 'M', unit_name: 'units', event_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
  const mint = async () => (await call('POST', '/api/usage/tokens', { user_id: 'u', ttl_seconds: 600 })).json as { token: string; expires_at: string };
  const tracker = (options: Partial<UsageTrackingOptions> = {}) => {
    const t = new UsageTracker({ creatorId: creator.id, baseURL: testServer().url, getToken: mint, fetch: browserFetch, onError: () => undefined, ...options });
    trackers.push(t);
    return t;
  };
  const used = async () => ((await call('GET', '/api/usage/customers/u/usage')).json.meters[0] as { used: string }).used;
  const rows = async () => Number((await testServer().rt.ownerDb.execute<{ n: string }>(sql`select count(*) as n from usage_events where creator_id = ${creator.id}`))[0]!.n);
  return { tracker, used, rows };
}

describe('in a browser', () => {
  it('non-ASCII events go in keepalive requests within the 64 KiB quota (bytes, not characters), and all are recorded', async () => {
    const { tracker, rows } = await setup();
    const t = tracker({ maxRetries: 1, retryBaseDelay: 10, retryMaxDelay: 20 });
    const text = 'あ'.repeat(2500); // 7,500 bytes, 2,500 characters
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => t.track({ userId: 'u', eventName: 'calls', properties: { i, text } })));
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => ((o as PromiseRejectedResult).reason as UsageError).code)).toEqual([]);
    expect(sent.every((r) => r.result === 200 && r.keepalive && r.bytes <= 65_536)).toBe(true);
    expect(await rows()).toBe(30);
  });

  it('on pagehide, what fits the keepalive quota goes out at once, with no request over it; the rest stays queued and follows', async () => {
    const { tracker, rows } = await setup();
    const t = tracker({ flushInterval: 60_000 });
    // 90: fewer than a full batch, which would be sent at once without waiting for the page to hide.
    const outcomes = Array.from({ length: 90 }, (_, i) => t.track({ userId: 'u', eventName: 'calls', properties: { i, pad: 'x'.repeat(2000) } }));
    fire('window:pagehide');
    await new Promise((r) => setTimeout(r, 500));
    const atUnload = sent.splice(0);
    expect(atUnload.length).toBeGreaterThan(0);
    expect(atUnload.every((r) => r.keepalive && r.result === 200)).toBe(true);
    expect(atUnload.reduce((n, r) => n + r.bytes, 0)).toBeLessThanOrEqual(65_536);
    const unloaded = atUnload.reduce((n, r) => n + r.events, 0);
    expect(unloaded).toBeGreaterThan(20);
    expect(await rows()).toBe(unloaded); // what a closing page got out
    // The page lived on (a hidden tab): the rest follows.
    await t.flush();
    expect((await Promise.allSettled(outcomes)).every((o) => o.status === 'fulfilled')).toBe(true);
    expect(await rows()).toBe(90);
  });

  it('an event larger than a keepalive request goes alone as a plain request (the server refuses its 70 kB properties at once); the events behind it flow', { timeout: 10_000 }, async () => {
    const { tracker, used } = await setup();
    const onError = vi.fn();
    const t = tracker({ onError });
    const pasted = t.track({ userId: 'u', eventName: 'calls', properties: { document: 'x'.repeat(70_000) } });
    const valid = Array.from({ length: 5 }, () => t.track({ userId: 'u', eventName: 'calls' }));
    await expect(pasted).rejects.toMatchObject({ status: 422, code: 'validation-failed' });
    expect(onError).toHaveBeenCalledTimes(1);
    await Promise.all(valid);
    await t.flush();
    expect(sent.find((r) => r.bytes > 65_536)).toMatchObject({ keepalive: false, events: 1 });
    expect(await used()).toBe('5');
  });
});
