import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../sdk/src/index';
import { useTestDatabase } from '../harness/db.js';
import { useTrackerServer } from './tracker-server.js';

/**
 * An event that keeps failing on its own (a 503 for its position in a batch answer the
 * server otherwise committed) keeps its own backoff and attempt count across the batches
 * that carry it, as the README's options table promises: its waits grow from
 * retryBaseDelay, doubling, with equal jitter, and it is rejected after maxRetries
 * retries — while the events sent with it are committed and not held up by its backoff.
 */
const { url } = await useTestDatabase();
const { server, setup, storedRows } = useTrackerServer(url);

/**
 * In front of the real server: events whose properties say `poison` never reach it; the
 * answer carries a 503 for their positions, the server's own results for the others.
 * `attempts` is when each poison event was received, and how large its batch was.
 */
let poison: { url: string; attempts: Array<{ at: number; batch: number }>; close: () => Promise<void> };
beforeAll(async () => {
  const attempts: Array<{ at: number; batch: number }> = [];
  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const at = performance.now();
        const events = JSON.parse(Buffer.concat(chunks).toString()) as Array<{ properties?: { poison?: boolean } }>;
        const bad = new Set<number>();
        events.forEach((event, index) => event.properties?.poison && bad.add(index));
        for (const _ of bad) attempts.push({ at, batch: events.length });
        const good = events.filter((_, index) => !bad.has(index));
        let upstream: Array<Record<string, unknown>> = [];
        if (good.length > 0) {
          const answer = await fetch(`${server().url}/api/usage/track`, { method: 'POST', headers: { authorization: req.headers.authorization!, 'content-type': 'application/json' }, body: JSON.stringify(good) });
          upstream = ((await answer.json()) as { results: Array<Record<string, unknown>> }).results;
        }
        let next = 0;
        const results = events.map((_, index) =>
          bad.has(index)
            ? { index, status: 503, error: { type: 'https://staryer.dev/problems/unavailable', title: 'Unavailable', status: 503, detail: 'Injected for this event.' } }
            : { ...upstream[next++], index },
        );
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ results }));
      })();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  poison = {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    attempts,
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
});
afterAll(async () => {
  await poison?.close();
});

describe('an event that keeps failing on its own inside committed batches', () => {
  it('waits as documented between its attempts (500 ms-style doubling, equal jitter), is rejected after maxRetries, and the events sent with it are committed meanwhile', async () => {
    const { creatorId, tracker } = await setup();
    const base = 200;
    const maxRetries = 4;
    const t = tracker({ baseURL: poison.url, flushInterval: 50, retryBaseDelay: base, retryMaxDelay: 10_000, maxRetries });
    poison.attempts.splice(0);

    const outcome = t.track({ userId: 'u', eventName: 'calls', properties: { poison: true } }).then(
      () => null,
      (e: unknown) => e,
    );
    let settled = false;
    void outcome.then(() => (settled = true));
    // The app keeps tracking other events meanwhile: the poison event is sent again in new
    // batches, with them.
    const others: Array<{ tracked: number; committed?: number }> = [];
    const committing: Array<Promise<unknown>> = [];
    while (!settled) {
      const entry: { tracked: number; committed?: number } = { tracked: performance.now() };
      others.push(entry);
      committing.push(t.track({ userId: 'u', eventName: 'calls' }).then(() => (entry.committed = performance.now())));
      await new Promise((r) => setTimeout(r, 10));
    }

    const error = await outcome;
    expect(error).toBeInstanceOf(UsageError);
    expect(error).toMatchObject({ status: 503 });
    // The first attempt and maxRetries more, not one per batch, nor fewer.
    expect(poison.attempts).toHaveLength(1 + maxRetries);
    // It went out again with other events, in new batches (events tracked every 10 ms wait
    // up to 50 ms for company, so one is nearly always queued when its backoff ends).
    expect(poison.attempts.slice(1).some((a) => a.batch > 1)).toBe(true);
    // After its n-th failure it waited at least half the step of base·2^(n−1) (equal jitter:
    // half the step plus up to the other half): 100, 200, 400, 800 ms at the least.
    const gaps = poison.attempts.slice(1).map((a, i) => a.at - poison.attempts[i]!.at);
    gaps.forEach((gap, i) => {
      const step = base * 2 ** i;
      expect(gap, `wait after failure ${i + 1}: ${gaps.map(Math.round).join(', ')} ms`).toBeGreaterThanOrEqual(step / 2 - 5);
    });
    // Every other event was committed once, and some were committed while it waited its last, longest backoff.
    await Promise.all(committing);
    expect(await storedRows(creatorId)).toBe(others.length);
    const [fourth, fifth] = [poison.attempts[maxRetries - 1]!.at, poison.attempts[maxRetries]!.at];
    expect(others.filter((o) => o.tracked > fourth && o.committed! < fifth).length).toBeGreaterThan(0);
  });
});
