import { expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';
import { GroupCommitter } from '../server/services/group-commit.js';
import { IngestConfigCache } from '../server/services/ingest-config-cache.js';
import { prepareEvent } from '../server/services/ingest.js';

/**
 * A group that reads part of a creator's configuration (a user memory does not hold) awaits
 * that read before keeping it; another group may replace memory with another version meanwhile.
 * The group must still judge by everything it had at its own version — here, its meter.
 */
const { url } = await useTestDatabase();
const testServer = useTestServer(url);

/** Memory whose second keeping is preceded by another group's, at a newer version (the interleaving, forced). */
class InterleavedCache extends IngestConfigCache {
  private kept = 0;
  override remember(...args: Parameters<IngestConfigCache['remember']>) {
    if (++this.kept === 2) super.remember(args[0], args[1] + 1, { meters: [], customers: [] });
    return super.remember(...args);
  }
}

it('a group whose memory was replaced by another version while it read a new user still knows its meter', async () => {
  const server = testServer();
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  expect((await call('PUT', '/api/usage/settings', { late_event_grace_hours: 24 })).status).toBe(200);
  expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
  expect((await call('PUT', '/api/usage/customers/known', {})).status).toBe(201);
  const committer = new GroupCommitter(server.rt.db, { boss: server.rt.boss, maxEvents: 1000, maxInFlight: 1, now: () => new Date(), log: server.rt.log, configCache: new InterleavedCache() });
  const track = async (userId: string) => {
    const [outcome] = await committer.submit(creator.id, [prepareEvent({ event_name: 'calls', user_id: userId })]);
    return outcome!.ok ? outcome!.status : `${outcome!.error.status} ${outcome!.error.code}`;
  };
  // The first group reads everything and keeps it; the second reads only its new user
  expect(await track('known')).toBe(201);
  expect(await track('new')).toBe(201);
  expect((await call('GET', '/api/usage/customers/new/usage')).json.meters[0]).toMatchObject({ used: '1' });
});
