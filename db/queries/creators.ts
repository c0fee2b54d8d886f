import { eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { creators } from '../schema.js';

export type Creator = { id: string; email: string; name: string; createdAt: Date };

const fromDbCreator = (row: typeof creators.$inferSelect): Creator => ({
  id: row.creatorId,
  email: row.email,
  name: row.name,
  createdAt: row.createdAt,
});

export async function insertCreator(
  tx: Queryable,
  input: { id: string; email: string; name: string; passwordHash: string },
): Promise<Creator> {
  const [row] = await tx
    .insert(creators)
    .values({ creatorId: input.id, email: input.email, name: input.name, passwordHash: input.passwordHash })
    .returning();
  return fromDbCreator(row!);
}

export async function findCreatorById(tx: Queryable, id: string): Promise<Creator | null> {
  const [row] = await tx.select().from(creators).where(eq(creators.creatorId, id));
  return row ? fromDbCreator(row) : null;
}

/** Owner connections only (CLI, bootstrap): row-level security hides other tenants. */
export async function findCreatorByEmail(tx: Queryable, email: string): Promise<Creator | null> {
  const [row] = await tx.select().from(creators).where(sql`lower(${creators.email}) = lower(${email})`);
  return row ? fromDbCreator(row) : null;
}

/** Works before the tenant is known, through a SECURITY DEFINER function. */
export async function findLoginByEmail(tx: Queryable, email: string): Promise<{ creatorId: string; passwordHash: string } | null> {
  const rows = await tx.execute<{ creator_id: string; password_hash: string }>(
    sql`select creator_id, password_hash from app_login_lookup(${email})`,
  );
  const row = rows[0];
  return row ? { creatorId: row.creator_id, passwordHash: row.password_hash } : null;
}

/** The creator's password hash (tenant set: its own row only). */
export async function findPasswordHash(tx: Queryable, creatorId: string): Promise<string | null> {
  const [row] = await tx.select({ passwordHash: creators.passwordHash }).from(creators).where(eq(creators.creatorId, creatorId));
  return row?.passwordHash ?? null;
}

export async function updatePasswordHash(tx: Queryable, creatorId: string, passwordHash: string): Promise<void> {
  await tx.update(creators).set({ passwordHash }).where(eq(creators.creatorId, creatorId));
}

/** Whether `seed` made this creator: it gives each one it creates an API key named "seed" (revoked or not). */
export async function isSeededCreator(tx: Queryable, creatorId: string): Promise<boolean> {
  const rows = await tx.execute<{ found: number }>(sql`select 1 as found from api_keys where creator_id = ${creatorId} and name = 'seed' limit 1`);
  return rows.length > 0;
}
