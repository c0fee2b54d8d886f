import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { UsageTracker, type UsageTrackingOptions } from '../../sdk/src/index';
import { api, createCreatorWithKey } from '../harness/fixtures.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { startFaultProxy } from './fault-proxy.js';

/**
 * For a test file of the SDK's tracker: the real server, a fault-injecting proxy in front
 * of it, and `setup` — a creator with a `calls` count meter (and whatever else the test
 * asks for), trackers on it (shut down after each test) and user tokens. The getters answer
 * once both are up (inside a test).
 */
export function useTrackerServer(dbUrl: string) {
  let server: TestServer | undefined;
  let proxy: Awaited<ReturnType<typeof startFaultProxy>> | undefined;
  beforeAll(async () => {
    server = await startTestServer(dbUrl);
    proxy = await startFaultProxy(server.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });
  const trackers: UsageTracker[] = [];
  afterEach(async () => {
    await Promise.all(trackers.splice(0).map((t) => t.shutdown({ timeoutMs: 1000 })));
    proxy?.log.splice(0);
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the test server and its proxy are not started yet (use them inside a test)');
    return value;
  };

  async function setup(meters: Array<Record<string, unknown>> = [{ event_name: 'calls', aggregation_type: 'count' }]) {
    const { apiKey, creator } = await createCreatorWithKey(started(server).rt);
    const call = api(started(server).url, apiKey);
    for (const meter of meters) {
      const created = await call('POST', '/api/usage/meters', { display_name: 'M', unit_name: 'units', ...meter });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
    }
    const tracker = (options: Partial<UsageTrackingOptions> = {}) => {
      const t = new UsageTracker({ creatorId: creator.id, baseURL: started(proxy).url, apiKey, onError: () => undefined, ...options });
      trackers.push(t);
      return t;
    };
    const mint = async (userId: string) => (await call('POST', '/api/usage/tokens', { user_id: userId, ttl_seconds: 600 })).json as { token: string; expires_at: string };
    return { apiKey, creatorId: creator.id, call, tracker, mint };
  }

  /** The usage events stored for a creator (owner connection). */
  const storedRows = async (creatorId: string) => {
    const [row] = await started(server).rt.ownerDb.execute<{ n: string }>(sql`select count(*) as n from usage_events where creator_id = ${creatorId}`);
    return Number(row!.n);
  };

  // trackers: the file's own trackers made otherwise are pushed here too, to be shut down after their test.
  return { server: () => started(server), proxy: () => started(proxy), setup, trackers, storedRows };
}
