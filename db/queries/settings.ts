import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { creatorSettings, type AlertKind } from '../schema.js';

export type Settings = {
  creatorId: string;
  defaultPlan: string | null;
  lateEventGraceHours: number;
  tokenSecret: string;
  alertEmail: string | null;
  alertEmailKinds: AlertKind[];
  emailCustomers: boolean;
  upgradeUrl: string | null;
};

const fromDb = (row: typeof creatorSettings.$inferSelect): Settings => ({
  creatorId: row.creatorId,
  defaultPlan: row.defaultPlan,
  lateEventGraceHours: row.lateEventGraceHours,
  tokenSecret: row.tokenSecret,
  alertEmail: row.alertEmail,
  alertEmailKinds: row.alertEmailKinds,
  emailCustomers: row.emailCustomers,
  upgradeUrl: row.upgradeUrl,
});

export async function findSettings(tx: Queryable, creatorId: string): Promise<Settings | null> {
  const [row] = await tx.select().from(creatorSettings).where(sql`${creatorSettings.creatorId} = ${creatorId}`);
  return row ? fromDb(row) : null;
}

/** The creator's settings row, created with defaults on first use. */
export async function ensureSettings(tx: Queryable, creatorId: string): Promise<Settings> {
  // A plain read first: an upsert would lock the creator's one settings row, and every
  // concurrent ingestion transaction of that creator would queue behind it.
  const existing = await findSettings(tx, creatorId);
  if (existing) return existing;
  await tx
    .insert(creatorSettings)
    .values({ creatorId, tokenSecret: randomBytes(32).toString('base64url') })
    .onConflictDoNothing();
  return (await findSettings(tx, creatorId))!;
}

export async function updateSettingsRow(
  tx: Queryable,
  creatorId: string,
  patch: Partial<Pick<Settings, 'defaultPlan' | 'lateEventGraceHours' | 'alertEmail' | 'alertEmailKinds' | 'emailCustomers' | 'upgradeUrl'>>,
  at: Date,
): Promise<Settings> {
  await ensureSettings(tx, creatorId);
  const [row] = await tx.update(creatorSettings).set({ ...patch, updatedAt: at }).returning();
  return fromDb(row!);
}
