import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';
import { createMetrics } from '../server/metrics.js';
import { GroupCommitter, type GroupCommitterOptions } from '../server/services/group-commit.js';
import { prepareEvent } from '../server/services/ingest.js';

/**
 * How the group commit shares transactions among requests that arrive together: how
 * many transactions it starts is what a creator pays per event (ADR 0009). Submissions
 * made in one tick arrive before any transaction can finish, so the grouping is exact.
 */
const { url } = await useTestDatabase();
type Creator = Awaited<ReturnType<typeof createCreatorWithKey>>;
const testServer = useTestServer(url);

async function submitTogether(options: Partial<GroupCommitterOptions>, n: number) {
  const server = testServer();
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
  const committer = new GroupCommitter(server.rt.db, { boss: server.rt.boss, maxEvents: 1000, maxInFlight: 4, now: () => new Date(), log: server.rt.log, ...options });
  const outcomes = await Promise.all(
    Array.from({ length: n }, (_, i) => committer.submit(creator.id, [prepareEvent({ event_name: 'calls', user_id: `u${i % 3}`, idempotency_key: `k${i}` })])),
  );
  const [row] = await server.rt.ownerDb.execute<{ events: number; total: string }>(sql`
    select (select count(*)::int from usage_events where creator_id = ${creator.id}) as events,
           (select sum(value)::text from usage_aggregates where creator_id = ${creator.id} and "window" = 'period') as total`);
  return { transactions: committer.stats.transactions, statuses: outcomes.map(([o]) => (o!.ok ? o!.status : o!.error.status)), events: row!.events, total: Number(row!.total) };
}

/** Creators with a `calls` count meter each. */
async function creatorsWithCalls(n: number) {
  const server = testServer();
  const creators = [];
  for (let i = 0; i < n; i++) {
    const created = await createCreatorWithKey(server.rt);
    expect((await api(server.url, created.apiKey)('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
    creators.push(created);
  }
  return creators;
}

/**
 * Runs `body` while any event of user "poison" makes its transaction fail, as a value
 * Postgres cannot store would (the trigger stands in for such a value).
 */
async function withPoisonedUser(body: () => Promise<void>) {
  const server = testServer();
  await server.rt.ownerDb.execute(sql`
    create or replace function test_poison() returns trigger language plpgsql as $$
    begin
      if new.user_id = 'poison' then raise exception 'this event cannot be stored'; end if;
      return new;
    end $$`);
  await server.rt.ownerDb.execute(sql`create trigger test_poison before insert on usage_events for each row execute function test_poison()`);
  try {
    await body();
  } finally {
    await server.rt.ownerDb.execute(sql`drop trigger test_poison on usage_events`);
  }
}

/** Each creator's stored idempotency keys and the events its period counters count. */
async function storedByCreator(creatorIds: string[]) {
  const rows = await testServer().rt.ownerDb.execute<{ creator_id: string; keys: string[]; counted: string }>(sql`
    select e.creator_id, array_agg(e.idempotency_key order by e.idempotency_key) as keys,
           (select sum(event_count)::text from usage_aggregates g where g.creator_id = e.creator_id and g."window" = 'period') as counted
    from usage_events e where e.creator_id in (${sql.join(creatorIds.map((id) => sql`${id}`), sql`, `)}) group by e.creator_id`);
  return new Map(rows.map((r) => [r.creator_id, { keys: r.keys, counted: Number(r.counted) }]));
}

describe('group commit', () => {
  it('starts up to maxInFlight transactions at once, then one more for everything that queued meanwhile', async () => {
    const result = await submitTogether({}, 12);
    // Four start at once with one event each; the other eight wait and go together.
    expect(result).toEqual({ transactions: 5, statuses: Array(12).fill(201), events: 12, total: 12 });
  });

  it('holds a small queue to smallQueueInFlight transactions, so its events wait and share one', async () => {
    const result = await submitTogether({ smallQueueInFlight: 1, largeQueue: 20 }, 12);
    // One starts; the other eleven (fewer than 20) wait for it and commit together.
    expect(result).toEqual({ transactions: 2, statuses: Array(12).fill(201), events: 12, total: 12 });
  });

  it('gives a large queue every transaction slot again', async () => {
    const result = await submitTogether({ smallQueueInFlight: 1, largeQueue: 20 }, 30);
    // One starts; when 20 are waiting the queue is large and they start at once, beside
    // it; the last nine (a small queue again, two in flight) wait and go together.
    expect(result).toEqual({ transactions: 3, statuses: Array(30).fill(201), events: 30, total: 30 });
  });
});

describe('a request that cannot commit', () => {
  it('a counter update that misses its row fails the transaction: nothing of the event is recorded, and it is not committed twice', async () => {
    const server = testServer();
    const a = await createCreatorWithKey(server.rt);
    expect((await api(server.url, a.apiKey)('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
    const committer = new GroupCommitter(server.rt.db, { boss: server.rt.boss, maxEvents: 1000, maxInFlight: 1, now: () => new Date(), log: server.rt.log });
    const submit = (userId: string, key: string) =>
      committer.submit(a.creator.id, [prepareEvent({ event_name: 'calls', user_id: userId, idempotency_key: key })]).then(
        ([o]) => (o!.ok ? o!.status : o!.error.status),
        (error: { status?: number }) => error.status ?? 'rejected',
      );
    // The customer's counter exists (a first event), then its updates touch nothing, as if
    // the row had moved under its lock (the trigger stands in for that).
    expect(await submit('vanishing', 'v1')).toBe(201);
    await server.rt.ownerDb.execute(sql`
      create or replace function test_skip_counter() returns trigger language plpgsql as $$
      begin
        if new."window" = 'period' and new.creator_id = ${sql.raw(`'${a.creator.id}'`)}::uuid then return null; end if;
        return new;
      end $$`);
    await server.rt.ownerDb.execute(sql`create trigger test_skip_counter before update on usage_aggregates for each row execute function test_skip_counter()`);
    try {
      expect(await submit('vanishing', 'v2')).toBe(503);
    } finally {
      await server.rt.ownerDb.execute(sql`drop trigger test_skip_counter on usage_aggregates`);
    }
    const [row] = await server.rt.ownerDb.execute<{ events: number; answers: number; counted: string }>(sql`
      select (select count(*)::int from usage_events where creator_id = ${a.creator.id}) as events,
             (select count(*)::int from usage_idempotency_keys where creator_id = ${a.creator.id}) as answers,
             (select sum(event_count)::text from usage_aggregates where creator_id = ${a.creator.id} and "window" = 'period') as counted`);
    expect(row).toEqual({ events: 1, answers: 1, counted: '1' });
    // Sent again once the counter behaves, it is recorded once.
    expect(await submit('vanishing', 'v2')).toBe(201);
    const [after] = await server.rt.ownerDb.execute<{ events: number; counted: string }>(sql`
      select (select count(*)::int from usage_events where creator_id = ${a.creator.id}) as events,
             (select sum(event_count)::text from usage_aggregates where creator_id = ${a.creator.id} and "window" = 'period') as counted`);
    expect(after).toEqual({ events: 2, counted: '2' });
  });

  it("fails alone: the other requests of its group, another creator's too, are committed", async () => {
    const server = testServer();
    const [a, b] = (await creatorsWithCalls(2)) as [Creator, Creator];
    await withPoisonedUser(async () => {
      const metrics = createMetrics().ingest;
      const committer = new GroupCommitter(server.rt.db, { boss: server.rt.boss, maxEvents: 1000, maxInFlight: 1, now: () => new Date(), log: server.rt.log, metrics });
      const submit = (creatorId: string, userId: string, key: string) =>
        committer.submit(creatorId, [prepareEvent({ event_name: 'calls', user_id: userId, idempotency_key: key })]).then(
          ([o]) => (o!.ok ? o!.status : o!.error.status),
          (error: { status?: number }) => error.status ?? 'rejected',
        );
      // The first commits alone; the other four wait for it and go as one group.
      const statuses = await Promise.all([
        submit(a.creator.id, 'u1', 'a1'),
        submit(a.creator.id, 'u1', 'a2'),
        submit(b.creator.id, 'poison', 'b1'),
        submit(b.creator.id, 'u2', 'b2'),
        submit(a.creator.id, 'u3', 'a3'),
      ]);
      expect(statuses).toEqual([201, 201, 503, 201, 201]);
      expect(committer.stats.splits).toBe(1);
      // /metrics says the same: a1 alone, then a2, b2, a3 one by one after the split; b1 failed.
      const results = Object.fromEntries((await metrics.transactions.get()).values.map((v) => [v.labels.result, v.value]));
      expect(results).toEqual({ committed: 4, split: 1, failed: 1 });
      const sizes = (await metrics.groupEvents.get()).values;
      expect(sizes.find((v) => v.metricName === 'staryer_ingest_group_events_sum')?.value).toBe(4);
      expect(sizes.find((v) => v.metricName === 'staryer_ingest_group_events_count')?.value).toBe(4);
      expect((await metrics.queueWaitSeconds.get()).values.find((v) => v.metricName === 'staryer_ingest_queue_wait_seconds_count')?.value).toBe(2);
      const byCreator = await storedByCreator([a.creator.id, b.creator.id]);
      expect(byCreator.get(a.creator.id)).toEqual({ keys: ['a1', 'a2', 'a3'], counted: 3 });
      expect(byCreator.get(b.creator.id)).toEqual({ keys: ['b2'], counted: 1 });
    });
  });

  it('a creator whose configuration is being changed waits apart, also in a group that fails: its events commit once the change does, each once', async () => {
    const server = testServer();
    const [a, b] = (await creatorsWithCalls(2)) as [Creator, Creator];
    await withPoisonedUser(async () => {
      const metrics = createMetrics().ingest;
      const committer = new GroupCommitter(server.rt.db, { boss: server.rt.boss, maxEvents: 1000, maxInFlight: 1, now: () => new Date(), log: server.rt.log, metrics });
      const answered: string[] = [];
      const submit = (creatorId: string, userId: string, key: string) =>
        committer.submit(creatorId, [prepareEvent({ event_name: 'calls', user_id: userId, idempotency_key: key })]).then(
          ([o]) => {
            answered.push(key);
            return o!.ok ? o!.status : o!.error.status;
          },
          (error: { status?: number }) => error.status ?? 'rejected',
        );
      let statuses: Promise<Array<number | string>>;
      await server.rt.ownerDb.transaction(async (tx) => {
        // A's change in progress
        await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`config|${a.creator.id}`}, 0))`);
        // b0 commits alone; the rest wait for it and go as one group, which b1 makes fail
        statuses = Promise.all([
          submit(b.creator.id, 'u0', 'b0'),
          submit(a.creator.id, 'u1', 'a1'),
          submit(b.creator.id, 'poison', 'b1'),
          submit(a.creator.id, 'u2', 'a2'),
          submit(b.creator.id, 'u3', 'b2'),
        ]);
        await expect.poll(() => answered.includes('b2'), { timeout: 10_000 }).toBe(true);
        // B's answered (b1 alone refused); A's wait for the change, nothing of them recorded
        expect(answered.filter((k) => k.startsWith('a'))).toEqual([]);
        const [pending] = await tx.execute<{ n: number }>(sql`select count(*)::int as n from usage_events where creator_id = ${a.creator.id}`);
        expect(pending!.n).toBe(0);
      });
      expect(await statuses!).toEqual([201, 201, 503, 201, 201]);
      const results = Object.fromEntries((await metrics.transactions.get()).values.map((v) => [v.labels.result, v.value]));
      expect(results.deferred).toBeGreaterThanOrEqual(1);
      const byCreator = await storedByCreator([a.creator.id, b.creator.id]);
      expect(byCreator.get(a.creator.id)).toEqual({ keys: ['a1', 'a2'], counted: 2 });
      expect(byCreator.get(b.creator.id)).toEqual({ keys: ['b0', 'b2'], counted: 2 });
      await committer.close();
    });
  });

  it('each creator of a group is stamped as of its own arrival: not as of an older request of another creator that waited for a change', async () => {
    const server = testServer();
    const [x, c, d] = (await creatorsWithCalls(3)) as [Creator, Creator, Creator];
    expect((await api(server.url, x.apiKey)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ux' })).status).toBe(201);
    const t0 = new Date(Date.now() - 120_000);
    const t1 = new Date(t0.getTime() + 60_000);
    let clock = t0;
    const committer = new GroupCommitter(server.rt.db, { boss: server.rt.boss, maxEvents: 1000, maxInFlight: 1, now: () => clock, log: server.rt.log });
    const track = (creatorId: string, userId: string) => committer.submit(creatorId, [prepareEvent({ event_name: 'calls', user_id: userId })]).then(([o]) => o!);
    let release!: () => void;
    const counterHeld = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    // X's counter row locked: X's commit holds the committer's one transaction slot meanwhile
    const holder = server.rt.ownerDb.transaction(async (tx) => {
      await tx.execute(sql`select 1 from usage_aggregates where creator_id = ${x.creator.id} for update`);
      locked();
      await counterHeld;
    });
    await isLocked;
    let outcomes!: Promise<Array<Awaited<ReturnType<typeof track>>>>;
    await server.rt.ownerDb.transaction(async (tx) => {
      // C's change in progress
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`config|${c.creator.id}`}, 0))`);
      const first = track(x.creator.id, 'ux');
      await new Promise((r) => setTimeout(r, 100));
      // C's request arrives at t0, D's a minute later; both wait for X's commit and go as one group
      const fromC = track(c.creator.id, 'uc');
      clock = t1;
      const fromD = track(d.creator.id, 'ud');
      release();
      await holder;
      const answered = await fromD;
      expect(answered).toMatchObject({ ok: true, status: 201, body: { timestamp: t1.toISOString() } });
      outcomes = Promise.all([first, fromC, fromD]);
    });
    const [, cAnswer] = await outcomes;
    // C, committed once its change was done, as of its own arrival
    expect(cAnswer).toMatchObject({ ok: true, status: 201, body: { timestamp: t0.toISOString() } });
    await committer.close();
  });
});
