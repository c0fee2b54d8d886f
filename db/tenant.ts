import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { AppError } from '../server/errors.js';
import type { Db, Tx } from './client.js';

const ZCreatorId = z.uuid();

/**
 * Runs fn in a transaction whose row-level-security tenant is creatorId. The setting
 * is transaction-local (set_config(…, true)), so a pooled connection never carries
 * one creator's identity into another's request.
 */
export async function withCreator<T>(db: Db, creatorId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  assertTenantId(creatorId);
  return db.transaction(async (tx) => {
    await setTenant(tx, creatorId);
    return fn(tx);
  });
}

/**
 * Switches the tenant inside an open transaction: the group commit serves several
 * creators in one transaction, one after the other.
 */
export async function setTenant(tx: Tx, creatorId: string): Promise<void> {
  assertTenantId(creatorId);
  await tx.execute(sql`select set_config('app.creator_id', ${creatorId}, true)`);
}

function assertTenantId(creatorId: string) {
  if (!ZCreatorId.safeParse(creatorId).success) {
    throw new AppError('internal', { code: 'invalid_tenant', detail: 'Invalid tenant id.' });
  }
}

/**
 * A creator's metering configuration — plans and their limits, customers' plans and billing
 * anchors, the default plan, the late-event grace, live meters — as ingestion judges events
 * by it. Each group commit holds it shared for the creator from before it reads that
 * configuration until it commits; a change takes it exclusively for its transaction. So a
 * change waits for the groups already reading (whose events it then sees in the counters,
 * for the alerts it owes), and a group never commits events judged by a configuration a
 * change replaced meanwhile (a cap lowered, a plan moved, an anchor moved). Taken before
 * any row lock on both sides; transaction-scoped, so it cannot outlive a connection.
 */
export async function lockCreatorConfig(tx: Tx, creatorId: string, mode: 'shared' | 'exclusive'): Promise<void> {
  // The same key as ingestion's share of it, taken with the tenant switch (startIngestTransaction, db/queries/usage.ts).
  const key = `config|${creatorId}`;
  await tx.execute(mode === 'shared' ? sql`select pg_advisory_xact_lock_shared(hashtextextended(${key}, 0))` : sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
}
