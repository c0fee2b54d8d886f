import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAppPool, toDb } from '../db/client.js';
import { apiKeys, creators, creatorSessions } from '../db/schema.js';
import { withCreator } from '../db/tenant.js';
import { createSession } from '../server/services/sessions.js';
import { useTestDatabase } from './harness/db.js';
import { createCreatorWithKey } from './harness/fixtures.js';
import { startTestRuntime } from './harness/server.js';

const { url } = await useTestDatabase();
const booted = await startTestRuntime(url);
const { rt } = booted;
afterAll(() => booted.close());

let a: Awaited<ReturnType<typeof createCreatorWithKey>>;
let b: Awaited<ReturnType<typeof createCreatorWithKey>>;
beforeAll(async () => {
  a = await createCreatorWithKey(rt);
  b = await createCreatorWithKey(rt);
  await createSession(rt, { creatorId: a.creator.id, ip: '127.0.0.1', userAgent: null });
  await createSession(rt, { creatorId: b.creator.id, ip: '127.0.0.1', userAgent: null });
});

describe('the database enforces tenancy', () => {
  it('gives every table of the public schema a creator_id and a forced tenant policy for the app role', async () => {
    const owner = postgres(url, { max: 1 });
    try {
      const tables = await owner<{ table_name: string; has_creator_id: boolean; rls: boolean; forced: boolean; policy: string | null }[]>`
        select c.relname as table_name,
               exists (select 1 from information_schema.columns col
                       where col.table_schema = 'public' and col.table_name = c.relname and col.column_name = 'creator_id') as has_creator_id,
               c.relrowsecurity as rls, c.relforcerowsecurity as forced,
               (select p.qual from pg_policies p where p.schemaname = 'public' and p.tablename = c.relname
                  and p.policyname = 'tenant_isolation' and 'staryer_app' = any(p.roles)) as policy
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition`;
      expect(tables.map((t) => t.table_name).sort()).toEqual(expect.arrayContaining(['api_keys', 'creator_sessions', 'creators']));
      for (const table of tables) {
        expect(table, table.table_name).toMatchObject({ has_creator_id: true, rls: true, forced: true });
        expect(table.policy, table.table_name).toContain('app_current_creator()');
      }
    } finally {
      await owner.end();
    }
  });

  it('connects the application as a role that is neither the owner nor able to bypass RLS', async () => {
    const [row] = await rt.db.execute<{ current_user: string; bypass: boolean; superuser: boolean; owns: boolean }>(sql`
      select current_user, r.rolbypassrls as bypass, r.rolsuper as superuser,
             exists (select 1 from pg_tables where tablename = 'creators' and tableowner = current_user) as owns
      from pg_roles r where r.rolname = current_user`);
    expect(row).toEqual({ current_user: 'staryer_app', bypass: false, superuser: false, owns: false });
  });

  it('refuses to serve on a login that is a member of the owner without being a superuser (as managed Postgres owners are): its policy sees every creator', async () => {
    const owner = postgres(url, { max: 1, onnotice: () => undefined });
    const role = `owner_member_${Math.random().toString(36).slice(2, 10)}`;
    const [{ current_user: ownerRole }] = (await owner<Array<{ current_user: string }>>`select current_user`) as unknown as [{ current_user: string }];
    await owner.unsafe(`create role ${role} login password 'pw' nosuperuser nobypassrls in role ${ownerRole}`);
    const member = postgres(Object.assign(new URL(url), { username: role, password: 'pw' }).toString(), { max: 1, onnotice: () => undefined });
    try {
      // What it would see: every creator's row, with no tenant set
      const [{ n }] = (await member<Array<{ n: number }>>`select count(*)::int as n from creators`) as unknown as [{ n: number }];
      expect(n).toBeGreaterThanOrEqual(2);
      const { assertRowLevelSecurityApplies, UnsafeAppRoleError } = await import('../db/client.js');
      const refused = await assertRowLevelSecurityApplies(member).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UnsafeAppRoleError);
      expect((refused as Error).message).toMatch(new RegExp(`"${role}" is the tables' owner "${ownerRole}" or a member of it`));
    } finally {
      await member.end();
      await owner.unsafe(`drop role ${role}`);
      await owner.end();
    }
  });

  it('shows no tenant rows to a query outside withCreator', async () => {
    expect(await rt.db.select().from(creators)).toEqual([]);
    expect(await rt.db.select().from(apiKeys)).toEqual([]);
    expect(await rt.db.select().from(creatorSessions)).toEqual([]);
  });

  it('shows a creator only its own rows, and refuses writes into another tenant', async () => {
    const seenByA = await withCreator(rt.db, a.creator.id, async (tx) => ({
      creators: await tx.select().from(creators),
      keys: await tx.select().from(apiKeys),
      sessions: await tx.select().from(creatorSessions),
    }));
    expect(seenByA.creators.map((c) => c.creatorId)).toEqual([a.creator.id]);
    expect(seenByA.keys.map((k) => k.creatorId)).toEqual([a.creator.id]);
    expect(seenByA.sessions.map((s) => s.creatorId)).toEqual([a.creator.id]);

    const updated = await withCreator(rt.db, a.creator.id, (tx) =>
      tx.update(apiKeys).set({ name: 'hijacked' }).where(sql`${apiKeys.creatorId} = ${b.creator.id}`).returning(),
    );
    expect(updated).toEqual([]);
    await expect(
      withCreator(rt.db, a.creator.id, (tx) =>
        tx.insert(apiKeys).values({ creatorId: b.creator.id, keyId: crypto.randomUUID(), name: 'x', prefix: 'x', secretHash: 'x', scopes: ['admin'] }),
      ),
    ).rejects.toThrow();
    const [bKey] = await withCreator(rt.db, b.creator.id, (tx) => tx.select().from(apiKeys));
    expect(bKey?.name).toBe('test');
  });

  it('does not leak the tenant setting to the next transaction on the same connection', async () => {
    const single = openAppPool({ ownerUrl: url, max: 1 });
    try {
      const db = toDb(single.sql);
      await withCreator(db, a.creator.id, (tx) => tx.select().from(creators));
      expect(await db.select().from(creators)).toEqual([]);
    } finally {
      await single.sql.end();
    }
  });

  it('refuses a tenant id that is not a UUID', async () => {
    await expect(withCreator(rt.db, "x' or true --", (tx) => tx.select().from(creators))).rejects.toThrow(/Invalid tenant/);
  });
});
