import net from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockCreatorConfig } from '../db/tenant.js';
import { GroupCommitter } from '../server/services/group-commit.js';
import { prepareEvent } from '../server/services/ingest.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * The connection to Postgres lost with a group's COMMIT: after Postgres committed (only the
 * answer lost), the events are answered as recorded, not "nothing recorded, retry" (an
 * event sent again without a key would then be counted twice); before it did, the answer
 * says the outcome is unknown. The server's connections go through a relay that cuts the
 * one carrying a marked user's COMMIT.
 */
const { url } = await useTestDatabase();

type Cut = { marker: string; commit: 'reaches Postgres' | 'is lost' };
let armed: Cut | null = null;
const sockets = new Set<net.Socket>();
const relay = net.createServer((client) => {
  const upstream = net.connect(Number(new URL(url).port), new URL(url).hostname);
  sockets.add(client).add(upstream);
  let seen = 0;
  let swallowing = false;
  client.on('data', (data) => {
    const cut = armed;
    // The marked user's (existing) customer is looked up in the group's first write, and
    // its event goes in the writes; the next write on that connection is the COMMIT (a
    // prepared statement, sent by name: nothing in it to recognise).
    if (cut && seen < 2 && data.toString('latin1').includes(cut.marker)) seen++;
    else if (cut?.commit === 'is lost' && seen === 2) {
      // What follows the writes (the COMMIT) never reaches Postgres.
      cutNow();
      return;
    }
    upstream.write(data);
  });
  upstream.on('data', (data) => {
    // Postgres's "COMMIT" done, after the marked group's writes: the answer is lost.
    if (armed?.commit === 'reaches Postgres' && seen === 2 && data.toString('latin1').includes('COMMIT\x00')) cutNow();
    if (!swallowing) client.write(data);
  });
  /** The server hears nothing more, then loses the connection; Postgres, later, its client. */
  function cutNow() {
    armed = null;
    swallowing = true;
    setTimeout(() => client.destroy(), 300);
    setTimeout(() => upstream.destroy(), 600);
  }
  client.on('close', () => setTimeout(() => upstream.destroy(), 600));
  upstream.on('close', () => client.destroy());
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);
});
let server: TestServer;
beforeAll(async () => {
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const relayed = new URL(url);
  relayed.port = String((relay.address() as net.AddressInfo).port);
  server = await startTestServer(relayed.toString());
});
afterAll(async () => {
  await server?.close();
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => relay.close(resolve));
});

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
  for (const userId of ['cut-after-commit', 'cut-before-commit']) expect((await call('PUT', `/api/usage/customers/${userId}`, {})).status).toBe(201);
  const stored = async (userId: string) =>
    (await server.rt.ownerDb.execute<{ n: number }>(sql`select count(*)::int as n from usage_events where creator_id = ${creator.id} and user_id = ${userId}`))[0]!.n;
  return { call, stored };
}

describe('a COMMIT whose answer is lost with its connection', () => {
  it('after Postgres committed: the event is answered 201, as recorded, and is stored once', async () => {
    const { call, stored } = await creator();
    armed = { marker: 'cut-after-commit', commit: 'reaches Postgres' };
    const tracked = await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'cut-after-commit' });
    expect(armed).toBeNull(); // the cut happened
    expect(tracked.status, tracked.text).toBe(201);
    expect(tracked.json).toMatchObject({ user_id: 'cut-after-commit', usage: { used: '1' } });
    expect(await stored('cut-after-commit')).toBe(1);
  });

  it('before Postgres had it: 503 saying the outcome is unknown (not "nothing recorded"), and nothing is stored', async () => {
    const { call, stored } = await creator();
    armed = { marker: 'cut-before-commit', commit: 'is lost' };
    const tracked = await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'cut-before-commit' });
    expect(armed).toBeNull();
    expect(tracked.status, tracked.text).toBe(503);
    expect(tracked.json.detail).toMatch(/may or may not have been recorded/);
    expect(await stored('cut-before-commit')).toBe(0);
    // And the server goes on
    await expect.poll(async () => (await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'after' })).status, { timeout: 10_000 }).toBe(201);
  });

  it('in a group that left out a creator mid-change: that creator’s events are committed once, after the change, not once more for the lost answer', async () => {
    const a = await createCreatorWithKey(server.rt);
    expect((await api(server.url, a.apiKey)('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
    const b = await createCreatorWithKey(server.rt);
    const bCall = api(server.url, b.apiKey);
    expect((await bCall('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
    expect((await bCall('PUT', '/api/usage/customers/cut-after-commit', {})).status).toBe(201);
    const committer = new GroupCommitter(server.rt.db, { boss: server.rt.boss, maxEvents: 1000, maxInFlight: 1, now: () => new Date(), log: server.rt.log });
    const status = (submitted: Promise<Array<{ ok: boolean; status?: number; error?: { status: number } }>>) =>
      submitted.then(([o]) => (o!.ok ? o!.status : o!.error!.status), (error: { status?: number }) => error.status ?? 'rejected');
    let statuses!: Promise<Array<number | string | undefined>>;
    await server.rt.ownerDb.transaction(async (tx) => {
      await lockCreatorConfig(tx, a.creator.id, 'exclusive');
      // The first commits alone; A's event (no idempotency key) and B's marked one go together, and that COMMIT's answer is lost
      armed = { marker: 'cut-after-commit', commit: 'reaches Postgres' };
      statuses = Promise.all([
        status(committer.submit(b.creator.id, [prepareEvent({ event_name: 'calls', user_id: 'first' })])),
        status(committer.submit(a.creator.id, [prepareEvent({ event_name: 'calls', user_id: 'ua' })])),
        status(committer.submit(b.creator.id, [prepareEvent({ event_name: 'calls', user_id: 'cut-after-commit' })])),
      ]);
      await expect.poll(() => armed, { timeout: 10_000 }).toBeNull();
      await new Promise((r) => setTimeout(r, 1_000));
    });
    expect(await statuses).toEqual([201, 201, 201]);
    await committer.close();
    const stored = await server.rt.ownerDb.execute<{ creator_id: string; n: number }>(
      sql`select creator_id, count(*)::int as n from usage_events where creator_id in (${a.creator.id}, ${b.creator.id}) group by creator_id`,
    );
    expect(Object.fromEntries(stored.map((r) => [r.creator_id, r.n]))).toEqual({ [a.creator.id]: 1, [b.creator.id]: 2 });
  });
});
