import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUsageClient, UsageError, UsageTracker } from '../../sdk/src/index';
import { useTestDatabase } from '../harness/db.js';
import { useTrackerServer } from './tracker-server.js';

/**
 * A `baseURL` that answers a redirect (http → https, an old host, a trailing path) is a
 * configuration error the creator must be told about. Followed, a 301/302 turns the POST of
 * events into a GET without them (the server answers 405, and the events are reported as
 * refused for a reason that has nothing to do with them), and a redirect to another origin
 * drops the API key. The SDK does not follow: every call fails with code `redirected`, naming
 * where the redirect points, and nothing reaches the address it points to.
 */
const { url } = await useTestDatabase();
const { setup, server, storedRows, trackers } = useTrackerServer(url);

let redirector: http.Server;
let redirectorUrl = '';
const seen: Array<{ method: string; url: string }> = [];
let status = 301;
beforeAll(async () => {
  redirector = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '' });
    req.resume();
    res.writeHead(status, { location: `${server().url}${req.url ?? '/'}` });
    res.end();
  });
  await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => redirector.close(() => resolve())));

describe('a baseURL that redirects', () => {
  for (const code of [301, 302, 307, 308]) {
    it(`${code}: trackUsage fails at once with code "redirected" naming where it points; nothing is recorded there, and nothing is retried`, async () => {
      status = code;
      seen.splice(0);
      const { creatorId, apiKey } = await setup();
      const errors: unknown[] = [];
      const tracker = new UsageTracker({ creatorId, baseURL: redirectorUrl, apiKey, maxRetries: 3, retryBaseDelay: 10, onError: (e) => errors.push(e) });
      trackers.push(tracker);
      const result = await tracker.track({ userId: 'u1', eventName: 'calls' }).catch((e: unknown) => e);
      expect(result).toBeInstanceOf(UsageError);
      expect(result).toMatchObject({ code: 'redirected', status: code });
      expect((result as UsageError).message).toContain(`${server().url}/api/usage/track`);
      expect((result as UsageError).message).toMatch(/set baseURL/);
      // Asked once (not retried: the address will not change by itself), and not followed
      expect(seen).toEqual([{ method: 'POST', url: '/api/usage/track' }]);
      expect(await storedRows(creatorId)).toBe(0);
      // checkUsage says the same
      const check = await tracker.checkUsage({ userId: 'u1', eventName: 'calls' }).catch((e: unknown) => e);
      expect(check).toMatchObject({ code: 'redirected', status: code });
    });
  }

  it('the typed client: a procedure call and checkUsage fail with the same error; through the real address they answer', async () => {
    status = 308;
    const { apiKey } = await setup();
    const redirected = createUsageClient({ baseURL: redirectorUrl, apiKey });
    const listed = await redirected.meters.list.query().catch((e: unknown) => e);
    expect(listed).toBeInstanceOf(Error);
    expect((listed as Error & { cause?: unknown }).cause).toMatchObject({ code: 'redirected', status: 308 });
    expect((listed as Error).message).toMatch(/answered a redirect \(308 to http:\/\/127\.0\.0\.1:\d+\/api\/trpc\/meters\.list/);
    const check = await redirected.checkUsage({ userId: 'u1', eventName: 'calls' }).catch((e: unknown) => e);
    expect(check).toMatchObject({ code: 'redirected', status: 308 });
    // The same calls at the address the redirect pointed to are answered
    const direct = createUsageClient({ baseURL: server().url, apiKey });
    expect((await direct.meters.list.query()).meters.map((m) => m.event_name)).toEqual(['calls']);
    await expect(direct.checkUsage({ userId: 'u1', eventName: 'calls' })).resolves.toMatchObject({ allowed: true });
  });
});
