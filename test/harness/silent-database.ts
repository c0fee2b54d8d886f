import { expect } from 'vitest';
import { api, createCreatorWithKey } from './fixtures.js';
import { startTestServer, type TestServer } from './server.js';
import { startSilentRelay } from './tcp-relay.js';

export type SilentDatabase = { relay: Awaited<ReturnType<typeof startSilentRelay>>; server: TestServer; call: ReturnType<typeof api>; creatorId: string };

/**
 * A server (commit deadline 3 s: INGEST_TIMEOUT_MS, 30 s by default; more `env` on top) whose
 * database sits behind a relay that can go silent, a creator with a `calls` count meter and one
 * event already recorded (idempotency key `before`); closed after `run`.
 */
export async function withSilentDatabase(databaseUrl: string, env: Record<string, string>, run: (s: SilentDatabase) => Promise<void>) {
  const relay = await startSilentRelay(databaseUrl);
  const server = await startTestServer(relay.url, { env: { INGEST_TIMEOUT_MS: '3000', ...env } });
  try {
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: 'before' })).status).toBe(201);
    await run({ relay, server, call, creatorId: creator.id });
  } finally {
    relay.resume();
    await server.close();
    await relay.close();
  }
}
