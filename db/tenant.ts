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
