import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { trackingApi } from '../../sdk/src/core';
import { QuotaExceededError, UsageError, UsageTracker, createUsageClient, initUsageTracking, shutdown, trackUsage, useUsageTracking, type TrackedEvent } from '../../sdk/src/index';
import { useTestDatabase } from '../harness/db.js';

import { useTrackerServer } from './tracker-server.js';

/**
 * The SDK's tracker against the real server (and, for faults, through a proxy in front
 * of it): batching, settling per event, retries that never double-count, Retry-After,
 * hard caps, tokens.
 */
const { url } = await useTestDatabase();
const { server, proxy, setup, trackers } = useTrackerServer(url);

/** One property of each stored event, oldest first. */
const storedProperties = async (creatorId: string, key: string) =>
  (
    await server().rt.ownerDb.execute<{ v: string }>(sql`select properties->>${key} as v from usage_events where creator_id = ${creatorId} order by received_at, event_id`)
  ).map((r) => r.v);

const stored = async (creatorId: string) => {
  const [row] = await server().rt.ownerDb.execute<{ n: string; keys: string }>(
    sql`select count(*) as n, count(distinct idempotency_key) as keys from usage_events where creator_id = ${creatorId}`,
  );
  return { rows: Number(row!.n), keys: Number(row!.keys) };
};

describe('batching', () => {
  it('sends 250 events in batches of at most 100, settles each with its committed event, and stores exactly 250', async () => {
    const { creatorId, call, tracker } = await setup();
    const t = tracker({ maxBatchSize: 100, flushInterval: 50 });
    const results = await Promise.all(Array.from({ length: 250 }, (_, i) => t.track({ userId: `u${i % 5}`, eventName: 'calls', properties: { i } })));
    expect(results.every((r) => r.event_name === 'calls' && typeof r.id === 'string')).toBe(true);
    expect(new Set(results.map((r) => r.id)).size).toBe(250);
    const batches = proxy().requests();
    expect(batches.every((b) => b.events <= 100)).toBe(true);
    expect(batches.reduce((s, b) => s + b.events, 0)).toBe(250);
    expect(batches.length).toBeLessThanOrEqual(4);
    expect(await stored(creatorId)).toEqual({ rows: 250, keys: 250 });
    const usage = await call('GET', '/api/usage/customers/u0/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '50' });
  });

  it('waits flushInterval to fill a batch; flush() sends at once and resolves when settled', async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ flushInterval: 60_000 });
    const settled: TrackedEvent[] = [];
    for (let i = 0; i < 3; i++) void t.track({ userId: 'u', eventName: 'calls' }).then((e) => settled.push(e));
    await new Promise((r) => setTimeout(r, 200));
    expect(proxy().requests()).toHaveLength(0);
    expect(t.pending).toBe(3);
    await t.flush();
    expect(settled).toHaveLength(3);
    expect(proxy().requests()).toHaveLength(1);
    expect(t.pending).toBe(0);
    expect((await stored(creatorId)).rows).toBe(3);
  });

  it('the resolved event carries the usage after it', async () => {
    const { tracker } = await setup([{ event_name: 'bytes', aggregation_type: 'sum' }]);
    const t = tracker();
    await t.track({ userId: 'u', eventName: 'bytes', value: 5 });
    const second = await t.track({ userId: 'u', eventName: 'bytes', value: '2.5' });
    expect(second.usage.used).toBe('7.5');
    expect(second.value).toBe('2.5');
  });
});

describe('the seed’s API', () => {
  it('initUsageTracking, trackUsage and useUsageTracking’s trackAPICall / trackFeatureUsage shape events as the seed does', async () => {
    const { apiKey, creatorId } = await setup([
      { event_name: 'api_calls', aggregation_type: 'count' },
      { event_name: 'feature_usage', aggregation_type: 'duration', unit_name: 'seconds' },
    ]);
    initUsageTracking({ creatorId, baseURL: proxy().url + '/', apiKey });
    try {
      const { trackAPICall, trackFeatureUsage } = useUsageTracking();
      expect(useUsageTracking().trackAPICall).toBe(trackAPICall); // stable identity
      await Promise.all([trackAPICall('user-123', '/api/data', 'GET'), trackFeatureUsage('user-123', 'advanced_editor', 300), trackUsage({ userId: 'user-123', eventName: 'api_calls' })]);
      const rows = await server().rt.ownerDb.execute<{ value: string; properties: Record<string, unknown> }>(
        sql`select value::text as value, properties from usage_events where creator_id = ${creatorId} order by value, properties::text`,
      );
      const events = rows.map((r) => [Number(r.value), r.properties]);
      expect(events).toHaveLength(3);
      expect(events).toEqual(expect.arrayContaining([[1, {}], [1, { endpoint: '/api/data', method: 'GET' }], [300, { feature: 'advanced_editor' }]]));
    } finally {
      await shutdown();
    }
  });
});

describe('retries never duplicate', () => {
  it('answers lost after the server committed (connection cut) → retried with the same keys → each event stored once', async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ maxBatchSize: 20, flushInterval: 10, retryBaseDelay: 20, retryMaxDelay: 100 });
    // The first three requests are committed by the server, and then the client loses the answer.
    proxy().script({ kind: 'drop' }, { kind: 'drop' }, { kind: 'pass' }, { kind: 'drop' });
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => t.track({ userId: 'u', eventName: 'calls', properties: { i } })));
    expect(results).toHaveLength(60);
    const sent = proxy().requests();
    expect(sent.filter((r) => r.fault === 'drop').every((r) => r.upstreamStatus === 200)).toBe(true);
    expect(sent.reduce((s, r) => s + r.events, 0)).toBeGreaterThan(60); // some events went twice…
    expect(await stored(creatorId)).toEqual({ rows: 60, keys: 60 }); // …and were stored once
    expect(new Set(results.map((r) => r.id)).size).toBe(60);
  });

  it('answers held past the client timeout → aborted and retried → stored once, usage exact', async () => {
    const { creatorId, call, tracker } = await setup([{ event_name: 'bytes', aggregation_type: 'sum' }]);
    const t = tracker({ timeout: 700, flushInterval: 10, retryBaseDelay: 20, retryMaxDelay: 50 });
    proxy().script({ kind: 'delay', ms: 1500 }, { kind: 'delay', ms: 1500 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => t.track({ userId: 'slow', eventName: 'bytes', value: i + 1 })));
    expect(results.map((r) => r.value).sort((a, b) => Number(a) - Number(b))).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(proxy().requests().length).toBeGreaterThanOrEqual(2);
    expect(await stored(creatorId)).toEqual({ rows: 10, keys: 10 });
    const usage = await call('GET', '/api/usage/customers/slow/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '55' });
  });

  it('gives up after maxRetries with a network UsageError, through the promise and onError', async () => {
    const { tracker } = await setup();
    const onError = vi.fn();
    const t = tracker({ maxRetries: 2, retryBaseDelay: 10, retryMaxDelay: 20, onError });
    proxy().script({ kind: 'status', status: 500 }, { kind: 'status', status: 502 }, { kind: 'status', status: 500 });
    const error = await t.track({ userId: 'u', eventName: 'calls' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).status).toBe(500);
    expect(proxy().requests()).toHaveLength(3);
    expect(onError).toHaveBeenCalledWith(error, expect.objectContaining({ userId: 'u', eventName: 'calls' }));
  });
});

describe('what a tracked event carries', () => {
  it('its properties as they were when tracked: a reused object changed before the send, or before a retry, changes nothing', async () => {
    const { creatorId, tracker } = await setup([{ event_name: 'files', aggregation_type: 'unique', unique_property: 'file' }]);
    // A reused object: each event sends its own values, and the unique meter counts 3
    const t = tracker({ flushInterval: 50 });
    const shared: Record<string, unknown> = {};
    const tracked: Array<Promise<TrackedEvent>> = [];
    for (const file of ['f1', 'f2', 'f3']) {
      shared.file = file;
      tracked.push(t.track({ userId: 'u', eventName: 'files', properties: shared }));
    }
    const results = await Promise.all(tracked);
    expect(await storedProperties(creatorId, 'file')).toEqual(['f1', 'f2', 'f3']);
    expect(results.map((r) => r.usage.used)).toEqual(['1', '2', '3']);
    // A retry after a lost answer carries the payload first sent, though the object changed: answered from the record, not 422
    const r = tracker({ flushInterval: 10, retryBaseDelay: 300, retryMaxDelay: 300 });
    proxy().script({ kind: 'drop' });
    const object: Record<string, unknown> = { file: 'g1' };
    const retried = r.track({ userId: 'v', eventName: 'files', properties: object });
    await vi.waitFor(() => expect(proxy().requests().filter((q) => q.fault === 'drop')).toHaveLength(1));
    object.file = 'g2';
    expect((await retried).usage.used).toBe('1');
    expect(await stored(creatorId)).toEqual({ rows: 4, keys: 4 });
    expect(await storedProperties(creatorId, 'file')).toEqual(['f1', 'f2', 'f3', 'g1']);
    // Properties that are not JSON are refused at once, with the reason
    const bad = await t.track({ userId: 'u', eventName: 'files', properties: { n: 10n } }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'invalid-event', message: expect.stringMatching(/properties must be JSON/) });
  });

  it('after an unclear failure the caller gets the event as sent — its key and timestamp — and tracking it again records it once', async () => {
    const { creatorId, tracker } = await setup();
    const onError = vi.fn();
    const t = tracker({ maxRetries: 1, flushInterval: 10, retryBaseDelay: 10, retryMaxDelay: 20, onError });
    // Both attempts are committed by the server and their answers lost
    proxy().script({ kind: 'drop' }, { kind: 'drop' });
    const error = (await t.track({ userId: 'u', eventName: 'calls', value: 2 }).catch((e: unknown) => e)) as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    const [[, sent]] = onError.mock.calls as [[UsageError, Parameters<UsageTracker['track']>[0]]];
    expect(sent).toMatchObject({ userId: 'u', eventName: 'calls', value: 2, idempotencyKey: error.idempotencyKey, timestamp: expect.any(String) });
    // Tracking it again: the server answers from its record, the event is stored once
    const again = await t.track(sent);
    expect(await stored(creatorId)).toEqual({ rows: 1, keys: 1 });
    const [row] = await server().rt.ownerDb.execute<{ event_id: string; idempotency_key: string }>(sql`select event_id, idempotency_key from usage_events where creator_id = ${creatorId}`);
    expect(row).toEqual({ event_id: again.id, idempotency_key: error.idempotencyKey });
  });

  it('events that fail together each get their own error and key, and onError the properties as sent, though the caller changed them', async () => {
    const { creatorId, tracker } = await setup([{ event_name: 'files', aggregation_type: 'count' }]);
    const onError = vi.fn();
    const t = tracker({ maxRetries: 1, flushInterval: 50, retryBaseDelay: 10, retryMaxDelay: 20, onError });
    // Both events go in one request; both attempts are committed by the server and their answers lost
    proxy().script({ kind: 'drop' }, { kind: 'drop' });
    const properties: Record<string, unknown> = { file: 'a' };
    const failure = (tracked: Promise<unknown>) => tracked.then(() => expect.fail('recorded, though no answer came back'), (e: unknown) => e as UsageError);
    const first = failure(t.track({ userId: 'u', eventName: 'files', properties }));
    const second = failure(t.track({ userId: 'v', eventName: 'files', properties: { file: 'b' } }));
    properties.file = 'changed';
    const [e1, e2] = await Promise.all([first, second]);
    expect(proxy().requests().filter((q) => q.fault === 'drop')).toHaveLength(2);
    expect(e1).not.toBe(e2);
    for (const e of [e1, e2]) {
      expect(e).toBeInstanceOf(UsageError);
      expect(Object.prototype.toString.call(e)).toBe('[object Error]');
      expect(e).toMatchObject({ code: 'network', message: expect.stringMatching(/Could not reach/) });
    }
    expect(e1.idempotencyKey).not.toBe(e2.idempotencyKey);
    const calls = onError.mock.calls as Array<[UsageError, Parameters<UsageTracker['track']>[0]]>;
    expect(calls.map(([error, sent]) => [error.idempotencyKey, sent.idempotencyKey, sent.userId, sent.properties])).toEqual([
      [e1.idempotencyKey, e1.idempotencyKey, 'u', { file: 'a' }],
      [e2.idempotencyKey, e2.idempotencyKey, 'v', { file: 'b' }],
    ]);
    // Tracked again as handed over: answered from the record, each stored once
    for (const [, sent] of calls) await t.track(sent);
    expect(await stored(creatorId)).toEqual({ rows: 2, keys: 2 });
    expect(await storedProperties(creatorId, 'file')).toEqual(['a', 'b']);
  });

  it('a 200 without per-event results (cut short by a proxy) is sent again, answered from the record', async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ flushInterval: 10, retryBaseDelay: 10, retryMaxDelay: 20 });
    proxy().script({ kind: 'status', status: 200, body: { ok: true } });
    const tracked = await t.track({ userId: 'u', eventName: 'calls' });
    expect(tracked.event_name).toBe('calls');
    expect(proxy().requests()).toHaveLength(2);
    expect(await stored(creatorId)).toEqual({ rows: 1, keys: 1 });
  });

  it('checkUsage rounds a value as trackUsage does (0.1 + 0.2 is asked as 0.3)', async () => {
    const { tracker } = await setup([{ event_name: 'gb', aggregation_type: 'sum' }]);
    const check = await tracker().checkUsage({ userId: 'u', eventName: 'gb', value: 0.1 + 0.2 });
    expect(check).toMatchObject({ allowed: true, used: '0' });
  });
});

describe('Retry-After', () => {
  it('503 and 429 with Retry-After: 1 → the next attempts wait at least a second each, then succeed once', async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ retryBaseDelay: 10, retryMaxDelay: 20 });
    proxy().script({ kind: 'status', status: 503, headers: { 'retry-after': '1' } }, { kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    await t.track({ userId: 'u', eventName: 'calls' });
    const [first, second, third] = proxy().requests();
    expect(proxy().requests()).toHaveLength(3);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(990);
    expect(third!.at - second!.at).toBeGreaterThanOrEqual(990);
    expect((await stored(creatorId)).rows).toBe(1);
  });

  it('an HTTP-date Retry-After is honoured too', async () => {
    const { tracker } = await setup();
    const t = tracker({ retryBaseDelay: 10, retryMaxDelay: 20 });
    // HTTP dates have whole seconds: this one is 2–3 s away.
    proxy().script({ kind: 'status', status: 503, headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } });
    await t.track({ userId: 'u', eventName: 'calls' });
    const [first, second] = proxy().requests();
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1500);
  });
});

describe('answers that are final', () => {
  it('a hard cap → QuotaExceededError with used, limit, remaining, period_end, through the promise and onError; neighbours commit', async () => {
    const { call, tracker } = await setup([{ event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 3, hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/capped', { plan_name: 'free' });
    const onError = vi.fn();
    const t = tracker({ onError, flushInterval: 50 });
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => t.track({ userId: 'capped', eventName: 'calls' })));
    expect(proxy().requests()).toHaveLength(1); // one batch, judged per event
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as QuotaExceededError);
    expect(refused).toHaveLength(2);
    for (const error of refused) {
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect(error).toMatchObject({ status: 402, code: 'quota-exceeded', used: '3', limit: '3', remaining: '0' });
      expect(Date.parse(error.period_end)).toBeGreaterThan(Date.now());
    }
    expect(onError).toHaveBeenCalledTimes(2);
    expect(onError.mock.calls[0]![0]).toBeInstanceOf(QuotaExceededError);
  });

  it('4xx answers are never retried: an unknown meter (per event) and a bad key (whole request)', async () => {
    const { tracker, creatorId } = await setup();
    const t = tracker();
    const unknown = await t.track({ userId: 'u', eventName: 'no_such_meter' }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ status: 422, code: 'unknown-meter' });
    expect(proxy().requests()).toHaveLength(1);
    proxy().log.splice(0);
    const badKey = tracker({ apiKey: 'su_live_000000000000000000000000000000000000', creatorId });
    const refused = await badKey.track({ userId: 'u', eventName: 'calls' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 401 });
    expect(proxy().requests()).toHaveLength(1);
  });

  it('a full queue drops its oldest waiting event with queue-overflow', async () => {
    const { tracker } = await setup();
    const onError = vi.fn();
    const t = tracker({ maxQueueSize: 5, flushInterval: 60_000, onError });
    const promises = Array.from({ length: 8 }, (_, i) => t.track({ userId: 'u', eventName: 'calls', properties: { i } }));
    const early = await Promise.allSettled(promises.slice(0, 3));
    expect(early.every((o) => o.status === 'rejected' && (o.reason as UsageError).code === 'queue-overflow')).toBe(true);
    expect(onError.mock.calls.map(([, event]) => (event as { properties: { i: number } }).properties.i)).toEqual([0, 1, 2]);
    await t.flush();
    expect((await Promise.all(promises.slice(3))).length).toBe(5);
  });

  it('a full queue never drops an event already sent once (waiting for a retry; the server may have it): it drops the oldest not yet sent', async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ maxQueueSize: 2, flushInterval: 10, retryBaseDelay: 400, retryMaxDelay: 400 });
    proxy().script({ kind: 'status', status: 503 });
    const first = t.track({ userId: 'u', eventName: 'calls', properties: { n: 0 } });
    await vi.waitFor(() => expect(proxy().requests()).toHaveLength(1));
    // The first waits for its retry; two more overflow the queue of 2
    const second = t.track({ userId: 'u', eventName: 'calls', properties: { n: 1 } });
    const third = t.track({ userId: 'u', eventName: 'calls', properties: { n: 2 } });
    expect(await second.catch((e: UsageError) => e.code)).toBe('queue-overflow');
    await Promise.all([first, third]);
    expect(await storedProperties(creatorId, 'n')).toEqual(['0', '2']);
  });

  it('shutdown() delivers what is queued and refuses later events', async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ flushInterval: 60_000 });
    const queued = t.track({ userId: 'u', eventName: 'calls' });
    await t.shutdown();
    await expect(queued).resolves.toMatchObject({ event_name: 'calls' });
    await expect(t.track({ userId: 'u', eventName: 'calls' })).rejects.toMatchObject({ code: 'shutdown' });
    expect((await stored(creatorId)).rows).toBe(1);
  });
});

describe('browser tokens', () => {
  it('tracks and checks with getToken; a rejected token is asked for again once; another user’s events are refused', async () => {
    const { call, tracker, creatorId } = await setup();
    const mint = async (userId: string) => (await call('POST', '/api/usage/tokens', { user_id: userId, ttl_seconds: 600 })).json as { token: string; expires_at: string };
    const getToken = vi
      .fn<() => Promise<string | { token: string; expires_at: string }>>()
      .mockResolvedValueOnce('eyJhbGciOiJIUzI1NiJ9.eyJjaWQiOiJ4In0.AAAA') // a token the server refuses (401)
      .mockImplementation(() => mint('browser-user'));
    const t = tracker({ apiKey: undefined, getToken });
    const tracked = await t.track({ userId: 'browser-user', eventName: 'calls' });
    expect(tracked.user_id).toBe('browser-user');
    expect(getToken).toHaveBeenCalledTimes(2);
    // Another user than the token's: getToken is asked once more (the page may have signed
    // someone else in); its token is still for browser-user, so the event is refused
    await expect(t.track({ userId: 'someone-else', eventName: 'calls' })).rejects.toMatchObject({ code: 'token-user-mismatch' });
    expect(getToken).toHaveBeenCalledTimes(3);
    const check = await t.checkUsage({ userId: 'browser-user', eventName: 'calls' });
    expect(check).toMatchObject({ allowed: true, used: '1', limit: null });
    expect(getToken).toHaveBeenCalledTimes(3); // cached until shortly before it expires
    expect((await stored(creatorId)).rows).toBe(1);
  });

  it('a client clock far ahead does not find every token expired: its lifetime is read from the token (issued → expiry), and getToken is asked once', async () => {
    const { Credentials } = await import('../../sdk/src/credentials');
    const issued = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(JSON.stringify({ cid: 'c', sub: 'u', iat: issued, exp: issued + 600 })).toString('base64url');
    const token = `eyJhbGciOiJIUzI1NiJ9.${payload}.sig`;
    let asked = 0;
    const credentials = new Credentials({ creatorId: 'c', getToken: () => (asked++, { token, expires_at: new Date((issued + 600) * 1000).toISOString() }) });
    // This machine's clock is two hours ahead of the server's
    const now = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 2 * 3600_000);
    try {
      for (let i = 0; i < 3; i++) expect(await credentials.bearer()).toBe(token);
      expect(asked).toBe(1);
    } finally {
      now.mockRestore();
    }
  });

  it('warns once, loudly, when an API key is given in a browser', async () => {
    const { apiKey, creatorId } = await setup();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const globals = globalThis as Record<string, unknown>;
    globals.window = globalThis;
    globals.document = { visibilityState: 'visible', addEventListener: () => undefined };
    try {
      trackers.push(new UsageTracker({ creatorId, baseURL: server().url, apiKey }));
      trackers.push(new UsageTracker({ creatorId, baseURL: server().url, apiKey }));
      const warnings = warn.mock.calls.filter(([message]) => String(message).includes('API KEY WAS GIVEN IN A BROWSER'));
      expect(warnings).toHaveLength(1);
    } finally {
      delete globals.window;
      delete globals.document;
      warn.mockRestore();
    }
  });
});

describe('typed client', () => {
  it('createUsageClient calls procedures with full types and checkUsage; errors carry the problem', async () => {
    const { apiKey } = await setup([]);
    const client = createUsageClient({ baseURL: server().url, apiKey });
    const meter = await client.meters.create.mutate({
      event_name: 'api_calls',
      display_name: 'API Calls',
      unit_name: 'calls',
      aggregation_type: 'count',
      plan_limits: [{ plan_name: 'free', limit_value: 2, hard_cap: true }],
    });
    expect(meter.plan_limits[0]).toMatchObject({ plan_name: 'free', limit_value: '2', hard_cap: true });
    await client.customers.upsert.mutate({ user_id: 'c1', customer: { plan_name: 'free' } });
    const [listed, me] = await Promise.all([client.meters.list.query(), client.auth.me.query()]);
    expect(listed.meters.map((m) => m.event_name)).toEqual(['api_calls']);
    expect(me.auth).toBe('api_key');
    await client.usage.track.mutate({ event_name: 'api_calls', user_id: 'c1' });
    expect(await client.checkUsage({ userId: 'c1', eventName: 'api_calls' })).toMatchObject({ allowed: true, used: '1', limit: '2', remaining: '1', hard_cap: true });
    await client.usage.trackBatch.mutate([{ event_name: 'api_calls', user_id: 'c1' }]);
    expect(await client.checkUsage({ userId: 'c1', eventName: 'api_calls' })).toMatchObject({ allowed: false, remaining: '0' });
    const failure = await client.checkUsage({ userId: 'c1', eventName: 'nope' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(UsageError);
    const duplicate = await client.meters.create
      .mutate({ event_name: 'api_calls', display_name: 'Again', unit_name: 'calls', aggregation_type: 'count' })
      .catch((e: { data?: { problem?: { status: number } } }) => e.data?.problem);
    expect(duplicate).toMatchObject({ status: 409 });
  });
});

describe('events too large for one request', () => {
  it('an event over the request size is refused at once (payload-too-large, promise and onError); the events behind it are delivered', { timeout: 10_000 }, async () => {
    const { creatorId, tracker } = await setup();
    const onError = vi.fn();
    const t = tracker({ onError });
    const huge = t.track({ userId: 'u', eventName: 'calls', properties: { body: 'x'.repeat(950_000) } });
    const small = t.track({ userId: 'u', eventName: 'calls' });
    await expect(huge).rejects.toMatchObject({ code: 'payload-too-large' });
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'payload-too-large' }), expect.objectContaining({ userId: 'u' }));
    await expect(small).resolves.toMatchObject({ event_name: 'calls' });
    await t.flush();
    expect(t.pending).toBe(0);
    expect((await stored(creatorId)).rows).toBe(1);
  });

  it('batches are measured in UTF-8 bytes: 400 events of 8 kB of CJK text with maxBatchSize 1000 go in requests under 900 kB, all recorded', { timeout: 60_000 }, async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ maxBatchSize: 1000, flushInterval: 50 });
    const text = '漢'.repeat(2700); // 8,100 bytes, 2,700 characters
    const outcomes = await Promise.allSettled(Array.from({ length: 400 }, (_, i) => t.track({ userId: 'u', eventName: 'calls', properties: { i, text } })));
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as UsageError).map((e) => e.code)).toEqual([]);
    const sent = proxy().requests();
    expect(sent.every((r) => r.bytes <= 900_000)).toBe(true);
    expect(sent.every((r) => r.upstreamStatus === 200)).toBe(true);
    expect(await stored(creatorId)).toEqual({ rows: 400, keys: 400 });
  });

  it('a 413 for a batch splits it instead of losing it; a single event refused with 413 rejects with payload-too-large', async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ flushInterval: 50 });
    const tooLarge = { type: 'https://staryer.dev/problems/payload-too-large', title: 'Payload too large', status: 413, detail: 'Too large.' };
    proxy().script({ kind: 'status', status: 413, body: tooLarge }, { kind: 'status', status: 413, body: tooLarge });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => t.track({ userId: 'u', eventName: 'calls', properties: { i } })));
    expect(results).toHaveLength(10);
    const sent = proxy().requests();
    expect(sent.slice(0, 2).map((r) => [r.events, r.fault])).toEqual([
      [10, 'status'],
      [5, 'status'],
    ]);
    expect(sent.slice(2).every((r) => r.events <= 5 && r.upstreamStatus === 200)).toBe(true);
    expect(sent.slice(2).reduce((n, r) => n + r.events, 0)).toBe(10);
    expect(await stored(creatorId)).toEqual({ rows: 10, keys: 10 });
    proxy().script({ kind: 'status', status: 413, body: tooLarge });
    await expect(t.track({ userId: 'u', eventName: 'calls' })).rejects.toMatchObject({ code: 'payload-too-large', status: 413 });
  });
});

describe('your own idempotency key', () => {
  it('tracking the same event again with your idempotencyKey (no timestamp) is recognised as the same event, counted once', async () => {
    const { creatorId, call, tracker } = await setup();
    const t = tracker({ flushInterval: 10 });
    const first = await t.track({ userId: 'u', eventName: 'calls', idempotencyKey: 'job-42' });
    await new Promise((r) => setTimeout(r, 30)); // a later call: another moment
    const again = await t.track({ userId: 'u', eventName: 'calls', idempotencyKey: 'job-42' });
    expect(again.id).toBe(first.id);
    expect(await stored(creatorId)).toEqual({ rows: 1, keys: 1 });
    expect((await call('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ used: '1' });
  });

  it('the SDK’s own retries of an event with your key send the same payload: an answer lost after commit is not an error, and not counted twice', async () => {
    const { creatorId, tracker } = await setup();
    const t = tracker({ flushInterval: 10, retryBaseDelay: 20, retryMaxDelay: 50 });
    proxy().script({ kind: 'drop' });
    const tracked = await t.track({ userId: 'u', eventName: 'calls', idempotencyKey: 'job-43' });
    expect(tracked.event_name).toBe('calls');
    expect(proxy().requests().map((r) => r.fault)).toEqual(['drop', 'pass']);
    expect(await stored(creatorId)).toEqual({ rows: 1, keys: 1 });
  });
});

describe('computed decimals', () => {
  it('numbers with more than 9 decimals are rounded to 9 (0.1 + 0.2 → 0.3), not refused', async () => {
    const { call, tracker } = await setup([
      { event_name: 'bytes', aggregation_type: 'sum' },
      { event_name: 'feature_usage', aggregation_type: 'duration', unit_name: 'seconds' },
    ]);
    const t = tracker();
    await expect(t.track({ userId: 'u', eventName: 'bytes', value: 0.1 + 0.2 })).resolves.toMatchObject({ value: '0.3' });
    await expect(t.track({ userId: 'u', eventName: 'bytes', value: 2.0000000005 })).resolves.toMatchObject({ value: '2.000000001' });
    const { trackFeatureUsage } = trackingApi(t);
    await expect(trackFeatureUsage('u', 'editor', 1234.5999999940395)).resolves.toMatchObject({ value: '1234.599999994' });
    const usage = await call('GET', '/api/usage/customers/u/usage');
    expect(Object.fromEntries((usage.json.meters as Array<{ event_name: string; used: string }>).map((m) => [m.event_name, m.used]))).toEqual({ bytes: '2.300000001', feature_usage: '1234.599999994' });
  });
});

describe('shutdown with requests in flight', () => {
  it('after timeoutMs, requests in flight are aborted, their events rejected with shutdown (promise and onError), and nothing is sent after', async () => {
    const { tracker } = await setup();
    const onError = vi.fn();
    const t = tracker({ onError, flushInterval: 10, retryBaseDelay: 10, retryMaxDelay: 20 });
    proxy().script({ kind: 'delay', ms: 1500 }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    const event = t.track({ userId: 'u', eventName: 'calls' });
    const outcome = event.then(
      () => 'resolved',
      (e: UsageError) => e.code,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(proxy().requests()).toHaveLength(1);
    await t.shutdown({ timeoutMs: 300 });
    expect(await Promise.race([outcome, new Promise((r) => setTimeout(() => r('pending'), 20))])).toBe('shutdown');
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'shutdown' }), expect.objectContaining({ userId: 'u' }));
    expect(t.pending).toBe(0);
    await new Promise((r) => setTimeout(r, 2000));
    expect(proxy().requests()).toHaveLength(1);
  });
});

describe('errors', () => {
  it('instanceof QuotaExceededError / UsageError holds across two copies of the SDK (as the ESM and CJS builds are)', async () => {
    const { call, tracker } = await setup([{ event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 0, hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/capped', { plan_name: 'free' });
    vi.resetModules();
    const other = await import('../../sdk/src/errors');
    expect(other.QuotaExceededError).not.toBe(QuotaExceededError);
    const refused = await tracker()
      .track({ userId: 'capped', eventName: 'calls' })
      .catch((e: unknown) => e);
    expect(refused instanceof other.QuotaExceededError).toBe(true);
    expect(refused instanceof other.UsageError).toBe(true);
    expect(new other.QuotaExceededError({ type: 'x/quota-exceeded', title: 'Q', status: 402, detail: 'd' }) instanceof QuotaExceededError).toBe(true);
    expect(new other.UsageError('d', { code: 'network' }) instanceof UsageError).toBe(true);
    expect(new other.UsageError('d', { code: 'network' }) instanceof QuotaExceededError).toBe(false);
    expect(new UsageError('d', { code: 'quota-exceeded' }) instanceof other.QuotaExceededError).toBe(false);
    expect(Object.assign(new Error('d'), { code: 'quota-exceeded' }) instanceof UsageError).toBe(false);
    expect((null as unknown) instanceof UsageError).toBe(false);
  });

  it('checkUsage rejects with UsageError network (no server) or timeout (no answer), never a raw TypeError or DOMException', async () => {
    const { tracker } = await setup();
    const down = await tracker({ baseURL: 'http://127.0.0.1:1' })
      .checkUsage({ userId: 'u', eventName: 'calls' })
      .catch((e: unknown) => e);
    expect(down).toBeInstanceOf(UsageError);
    expect(down).toMatchObject({ code: 'network' });
    proxy().script({ kind: 'delay', ms: 1500 });
    const slow = await tracker({ timeout: 300 })
      .checkUsage({ userId: 'u', eventName: 'calls' })
      .catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(UsageError);
    expect(slow).toMatchObject({ code: 'timeout' });
  });
});

describe('a getToken that never answers', () => {
  it('times out after `timeout` (token-unavailable, through checkUsage and onError), and getToken is asked again next time', async () => {
    const { call, tracker } = await setup();
    const mint = async (userId: string) => (await call('POST', '/api/usage/tokens', { user_id: userId, ttl_seconds: 600 })).json as { token: string; expires_at: string };
    const getToken = vi
      .fn<() => Promise<{ token: string; expires_at: string }>>()
      .mockImplementationOnce(() => new Promise(() => undefined)) // a fetch on a stalled connection
      .mockImplementationOnce(() => new Promise(() => undefined))
      .mockImplementation(() => mint('browser-user'));
    const onError = vi.fn();
    const t = tracker({ apiKey: undefined, getToken, timeout: 300, maxRetries: 0, onError });
    await expect(t.checkUsage({ userId: 'browser-user', eventName: 'calls' })).rejects.toMatchObject({ code: 'token-unavailable' });
    await expect(t.track({ userId: 'browser-user', eventName: 'calls' })).rejects.toMatchObject({ code: 'token-unavailable' });
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'token-unavailable' }), expect.objectContaining({ userId: 'browser-user' }));
    // The backend answers again: so does the tracker.
    await expect(t.track({ userId: 'browser-user', eventName: 'calls' })).resolves.toMatchObject({ user_id: 'browser-user' });
    await expect(t.checkUsage({ userId: 'browser-user', eventName: 'calls' })).resolves.toMatchObject({ used: '1' });
    expect(getToken).toHaveBeenCalledTimes(3);
  });
});

describe('a Node process that ends', () => {
  it('process.exit() with events queued cannot deliver them, and says so on stderr', async () => {
    const { apiKey, creatorId } = await setup();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdk-exit-'));
    const script = path.join(dir, 'exit.ts');
    writeFileSync(
      script,
      `import { initUsageTracking, trackUsage } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../sdk/src/index.ts'))};
initUsageTracking({ creatorId: ${JSON.stringify(creatorId)}, baseURL: ${JSON.stringify(server().url)}, apiKey: ${JSON.stringify(apiKey)} });
trackUsage({ userId: 'u', eventName: 'calls' });
process.exit(0);
`,
    );
    try {
      const { stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd: path.resolve(import.meta.dirname, '../..'), encoding: 'utf8' });
      expect(stderr).toContain('1 event(s) were not delivered');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
