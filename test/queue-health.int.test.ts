import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { withCreator } from '../db/tenant.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, trpcQuery } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/** Settings → job queues: each creator sees the backlog of its own jobs, never the others'. */
const { url } = await useTestDatabase();
const server = useTestServer(url);

describe('system.queues', () => {
  it("counts the creator's own waiting jobs by queue; another creator's are not in them", async () => {
    const a = await createCreatorWithKey(server().rt);
    const b = await createCreatorWithKey(server().rt);
    // Jobs waiting for A (an hour out, so that no worker takes them during the test).
    for (let i = 0; i < 3; i++) await server().rt.boss.send('billing.report', { creatorId: a.creator.id }, { startAfter: 3600 });
    await server().rt.boss.send('alerts.notify', { creatorId: a.creator.id, alertId: crypto.randomUUID() }, { startAfter: 3600 });

    const seen = async (apiKey: string) => {
      const data = await trpcQuery(api(server().url, apiKey), 'system.queues');
      return Object.fromEntries((data.queues as Array<{ name: string; queued: number }>).map((q) => [q.name, q.queued]));
    };
    const forA = await seen(a.apiKey);
    expect(forA).toMatchObject({ 'billing.report': 3, 'alerts.notify': 1, 'rollups.apply': 0, 'webhooks.deliver': 0, 'email.send': 0 });
    // The system's own queues (schedules, maintenance) are not a creator's.
    expect(Object.keys(forA)).not.toContain('billing.schedule');
    expect(Object.keys(forA)).not.toContain('maintenance.purge-sessions');
    const forB = await seen(b.apiKey);
    expect(Object.values(forB).every((n) => n === 0)).toBe(true);
    expect(Object.keys(forB)).toEqual(Object.keys(forA));
  });

  it('the application role enqueues and reads jobs but cannot change one (another creator’s payload included)', async () => {
    const a = await createCreatorWithKey(server().rt);
    const b = await createCreatorWithKey(server().rt);
    const jobId = await server().rt.boss.send('billing.report', { creatorId: b.creator.id }, { startAfter: 3600 });
    const attempt = await withCreator(server().rt.db, a.creator.id, (tx) =>
      tx.execute(sql`update pgboss.job set data = jsonb_build_object('creatorId', ${a.creator.id}::text) where id = ${jobId}::uuid`),
    ).catch((error: unknown) => error);
    expect(String((attempt as { cause?: { code?: string } })?.cause?.code ?? (attempt as { code?: string })?.code)).toBe('42501');
    const [row] = await server().rt.ownerDb.execute<{ creator: string }>(sql`select data ->> 'creatorId' as creator from pgboss.job where id = ${jobId}::uuid`);
    expect(row!.creator).toBe(b.creator.id);
    // Reading (pending rollups, the check) and enqueueing stay allowed.
    const seen = await withCreator(server().rt.db, a.creator.id, (tx) => tx.execute<{ n: number }>(sql`select count(*)::int as n from pgboss.job where id = ${jobId}::uuid`));
    expect(seen[0]!.n).toBe(1);
  });
});
