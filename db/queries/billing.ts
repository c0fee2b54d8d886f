import { and, asc, desc, eq, gte, inArray, isNotNull, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type { Db, Queryable } from '../client.js';
import { creatorSettings, customers, stripeWebhookEvents, usageBillingReconciliations, usageBillingSync, type BillingSyncStatus } from '../schema.js';
import { notSuperseded } from './params.js';

export type BillingSync = typeof usageBillingSync.$inferSelect;
export type NewBillingSync = typeof usageBillingSync.$inferInsert;

export type StripeSettings = {
  secretKeyEncrypted: string | null;
  connectAccountId: string | null;
  reportIntervalMinutes: number;
  invoiceGraceHours: number;
  lastReportAt: Date | null;
};

export async function findStripeSettings(tx: Queryable): Promise<StripeSettings | null> {
  const [row] = await tx
    .select({
      secretKeyEncrypted: creatorSettings.stripeSecretKeyEncrypted,
      connectAccountId: creatorSettings.stripeConnectAccountId,
      reportIntervalMinutes: creatorSettings.stripeReportIntervalMinutes,
      invoiceGraceHours: creatorSettings.stripeInvoiceGraceHours,
      lastReportAt: creatorSettings.stripeLastReportAt,
    })
    .from(creatorSettings);
  return row ?? null;
}

export async function updateStripeSettingsRow(
  tx: Queryable,
  patch: Partial<{
    stripeSecretKeyEncrypted: string | null;
    stripeConnectAccountId: string | null;
    stripeConnectStateHash: string | null;
    stripeConnectStateExpiresAt: Date | null;
    stripeReportIntervalMinutes: number;
    stripeInvoiceGraceHours: number;
    stripeLastReportAt: Date;
  }>,
  at: Date,
): Promise<void> {
  await tx.update(creatorSettings).set({ ...patch, updatedAt: at });
}

/** The Connect authorization in progress, locked until the transaction ends (one completion at a time). */
export async function lockConnectState(tx: Queryable): Promise<{ hash: string | null; expiresAt: Date | null } | null> {
  const [row] = await tx
    .select({ hash: creatorSettings.stripeConnectStateHash, expiresAt: creatorSettings.stripeConnectStateExpiresAt })
    .from(creatorSettings)
    .for('update');
  return row ?? null;
}

/**
 * A report run's reads in two statements instead of a few per customer: the period
 * counters of Stripe-linked customers on these meters whose period ends after `since`, and
 * the ledger's position of each such meter × customer × period (the last non-failed row's
 * cumulative total, as findPeriodPosition) with whether one of its rows has no known outcome.
 */
export async function readReportState(
  tx: Queryable,
  creatorId: string,
  meterIds: string[],
  since: Date,
): Promise<{
  counters: Array<{ meterId: string; customerId: string; periodStart: Date; periodEnd: Date; value: string }>;
  positions: Map<string, { cumulative: string; hasUnknown: boolean }>;
  openPairs: Set<string>;
  /** Per customer × meter with rows still to send, the oldest of them (the one its sync sends first): its period and cumulative total. */
  openRows: Array<{ meterId: string; customerId: string; periodStart: Date; periodEnd: Date; cumulative: string }>;
}> {
  if (meterIds.length === 0) return { counters: [], positions: new Map(), openPairs: new Set(), openRows: [] };
  const [counterRows, positionRows, openRows] = await Promise.all([
    tx.execute<{ meter_id: string; customer_id: string; window_start: Date | string; window_end: Date | string; value: string }>(sql`
      select a.meter_id, a.customer_id, a.window_start, a.window_end, a.value::text as value
      from usage_aggregates a
      join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
      where a.creator_id = ${creatorId} and a."window" = 'period' and a.window_end > ${since.toISOString()}::timestamptz
        and a.meter_id = any(${`{${meterIds.join(',')}}`}::uuid[]) and c.stripe_customer_id is not null`),
    tx.execute<{ meter_id: string; customer_id: string; period_start: Date | string; cumulative: string | null; has_unknown: boolean }>(sql`
      select meter_id, customer_id, period_start,
        (array_agg(cumulative_total::text order by sequence desc) filter (where status <> 'failed'))[1] as cumulative,
        bool_or(status = 'unknown') as has_unknown
      from usage_billing_sync
      where creator_id = ${creatorId} and period_end > ${since.toISOString()}::timestamptz
      group by meter_id, customer_id, period_start`),
    // Rows still to send (any period): the pair's sync finishes them first, oldest first.
    tx.execute<{ meter_id: string; customer_id: string; period_start: Date | string; period_end: Date | string; cumulative: string }>(sql`
      select distinct on (meter_id, customer_id) meter_id, customer_id, period_start, period_end, cumulative_total::text as cumulative
      from usage_billing_sync where creator_id = ${creatorId} and status in ('pending', 'in_flight')
      order by meter_id, customer_id, created_at, sequence`),
  ]);
  return {
    counters: counterRows.map((r) => ({ meterId: r.meter_id, customerId: r.customer_id, periodStart: new Date(r.window_start), periodEnd: new Date(r.window_end), value: r.value })),
    positions: new Map(
      positionRows.map((r) => [reportKey(r.meter_id, r.customer_id, new Date(r.period_start)), { cumulative: r.cumulative ?? '0', hasUnknown: r.has_unknown }]),
    ),
    openPairs: new Set(openRows.map((r) => `${r.meter_id}|${r.customer_id}`)),
    openRows: openRows.map((r) => ({ meterId: r.meter_id, customerId: r.customer_id, periodStart: new Date(r.period_start), periodEnd: new Date(r.period_end), cumulative: r.cumulative })),
  };
}

/** A meter × customer × period's key in readReportState's maps. */
export const reportKey = (meterId: string, customerId: string, periodStart: Date) => `${meterId}|${customerId}|${periodStart.getTime()}`;

/**
 * A meter whose usage of a period ending after `after` was reported (or is being reported) to
 * a Stripe meter other than the one it is linked to now, or null: what a longer late-event
 * grace must not open to events again (their late usage would go to the new Stripe meter).
 */
export async function findReportToAnotherStripeMeter(tx: Queryable, after: Date): Promise<{ eventName: string; reportedTo: string; periodEnd: Date } | null> {
  const [row] = await tx.execute<{ event_name: string; reported_to: string; period_end: string | Date }>(sql`
    select m.event_name, s.stripe_event_name as reported_to, s.period_end
    from usage_billing_sync s
    join usage_meters m on m.creator_id = s.creator_id and m.meter_id = s.meter_id
    where s.status <> 'failed' and s.period_end > ${after.toISOString()}::timestamptz
      and s.stripe_event_name is distinct from m.stripe_meter_event_name
    limit 1`);
  return row ? { eventName: row.event_name, reportedTo: row.reported_to, periodEnd: new Date(row.period_end) } : null;
}

/** Whether usage of this meter in a period ending after `after` was reported (or is being reported) to Stripe. */
export async function hasReportsEndingAfter(tx: Queryable, meterId: string, after: Date): Promise<boolean> {
  const [row] = await tx
    .select({ id: usageBillingSync.syncId })
    .from(usageBillingSync)
    .where(and(eq(usageBillingSync.meterId, meterId), ne(usageBillingSync.status, 'failed'), sql`${usageBillingSync.periodEnd} > ${after.toISOString()}::timestamptz`))
    .limit(1);
  return row !== undefined;
}

/** Creators with Stripe configured whose report interval has passed (owner connection: across creators). */
export async function findCreatorsDueForReport(db: Db, now: Date): Promise<string[]> {
  const rows = await db
    .select({ creatorId: creatorSettings.creatorId })
    .from(creatorSettings)
    .where(
      sql`(${creatorSettings.stripeSecretKeyEncrypted} is not null or ${creatorSettings.stripeConnectAccountId} is not null)
        and (${creatorSettings.stripeLastReportAt} is null
          or ${creatorSettings.stripeLastReportAt} + make_interval(mins => ${creatorSettings.stripeReportIntervalMinutes}) <= ${now.toISOString()}::timestamptz)`,
    );
  return rows.map((r) => r.creatorId);
}

/** Customers linked to a Stripe customer. */
export async function listStripeCustomers(tx: Queryable) {
  return tx
    .select({
      id: customers.customerId,
      userId: customers.userId,
      billingAnchor: customers.billingAnchor,
      stripeCustomerId: customers.stripeCustomerId,
      stripeSubscriptionItems: customers.stripeSubscriptionItems,
    })
    .from(customers)
    .where(isNotNull(customers.stripeCustomerId));
}

/** Serialises ledger writes of one customer × meter (held to the end of the transaction). */
export async function lockBillingPair(tx: Queryable, creatorId: string, meterId: string, customerId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`billing|${creatorId}|${meterId}|${customerId}`}, 0))`);
}

/** The oldest row of a customer × meter still to be sent (any period). */
export async function findOpenSync(tx: Queryable, meterId: string, customerId: string): Promise<BillingSync | null> {
  const [row] = await tx
    .select()
    .from(usageBillingSync)
    .where(and(eq(usageBillingSync.meterId, meterId), eq(usageBillingSync.customerId, customerId), inArray(usageBillingSync.status, ['pending', 'in_flight'])))
    .orderBy(asc(usageBillingSync.createdAt), asc(usageBillingSync.sequence))
    .limit(1);
  return row ?? null;
}

/** The last sequence number of a period, and the cumulative total of its last row that counts (not failed). */
export async function findPeriodPosition(
  tx: Queryable,
  meterId: string,
  customerId: string,
  periodStart: Date,
): Promise<{ lastSequence: number; cumulative: string; unknown: Array<Pick<BillingSync, 'syncId' | 'stripeAccountId' | 'identifier'>> }> {
  const where = and(eq(usageBillingSync.meterId, meterId), eq(usageBillingSync.customerId, customerId), eq(usageBillingSync.periodStart, periodStart));
  const [last] = await tx.select({ sequence: usageBillingSync.sequence }).from(usageBillingSync).where(where).orderBy(desc(usageBillingSync.sequence)).limit(1);
  const [counted] = await tx
    .select({ cumulative: usageBillingSync.cumulativeTotal })
    .from(usageBillingSync)
    .where(and(where, ne(usageBillingSync.status, 'failed')))
    .orderBy(desc(usageBillingSync.sequence))
    .limit(1);
  const unknown = await tx
    .select({ syncId: usageBillingSync.syncId, stripeAccountId: usageBillingSync.stripeAccountId, identifier: usageBillingSync.identifier })
    .from(usageBillingSync)
    .where(and(where, eq(usageBillingSync.status, 'unknown')));
  return { lastSequence: last?.sequence ?? 0, cumulative: counted?.cumulative ?? '0', unknown };
}

export async function insertSync(tx: Queryable, row: NewBillingSync): Promise<BillingSync> {
  const [inserted] = await tx.insert(usageBillingSync).values(row).returning();
  return inserted!;
}

/** Locks one ledger row for the length of its Stripe call: the one in-flight call of its customer × meter. */
export async function lockSync(tx: Queryable, syncId: string): Promise<BillingSync | null> {
  const [row] = await tx.select().from(usageBillingSync).where(eq(usageBillingSync.syncId, syncId)).for('update');
  return row ?? null;
}

export async function updateSync(
  tx: Queryable,
  syncId: string,
  patch: Partial<Pick<BillingSync, 'status' | 'attempts' | 'lastError' | 'stripeRequestId' | 'reportedAt' | 'nextAttemptAt' | 'sendingUntil' | 'firstSentAt' | 'stripeTookAt'>> & { status?: BillingSyncStatus },
): Promise<void> {
  await tx.update(usageBillingSync).set(patch).where(eq(usageBillingSync.syncId, syncId));
}

export type SyncStatusRow = {
  meterId: string;
  customerId: string;
  userId: string;
  eventName: string;
  periodStart: Date;
  periodEnd: Date;
  reported: string;
  lastStatus: BillingSyncStatus;
  lastError: string | null;
  attempts: number;
  lastReportedAt: Date | null;
  /** Reported after the period's invoice was finalized: in Stripe's meter, not on that invoice. */
  afterInvoice: string;
};

/** Per customer × meter × period: what was reported, the last row's state, and what went out after the period's invoice was finalized (`invoiceGraceHours` after its end). */
export async function listSyncStatus(tx: Queryable, invoiceGraceHours: number): Promise<SyncStatusRow[]> {
  const rows = await tx.execute<{
    meter_id: string;
    customer_id: string;
    user_id: string;
    event_name: string;
    period_start: string;
    period_end: string;
    reported: string | null;
    last_status: BillingSyncStatus;
    last_error: string | null;
    attempts: number;
    last_reported_at: string | null;
    after_invoice: string;
  }>(sql`
    select s.meter_id, s.customer_id, c.user_id, m.event_name, s.period_start, max(s.period_end) as period_end,
      coalesce(max(s.cumulative_total) filter (where s.status = 'succeeded'), 0)::text as reported,
      -- Reports Stripe took after the invoice was finalized (stripe_took_at: for a success known
      -- only later, the first send, the earliest it can have been), and compensations sent after it
      -- (each restores a quantity Stripe lost, taken to be from the reports on the invoice, so
      -- at most their total: a lost late report is counted once, as a late report).
      (coalesce(sum(s.quantity_delta) filter (where s.status = 'succeeded' and not s.compensates and coalesce(s.stripe_took_at, s.reported_at, s.created_at) > s.period_end + make_interval(hours => ${invoiceGraceHours})), 0)
        + least(
          coalesce(sum(s.quantity_delta) filter (where s.status = 'succeeded' and s.compensates and coalesce(s.stripe_took_at, s.reported_at, s.created_at) > s.period_end + make_interval(hours => ${invoiceGraceHours})), 0),
          coalesce(sum(s.quantity_delta) filter (where s.status = 'succeeded' and not s.compensates and coalesce(s.stripe_took_at, s.reported_at, s.created_at) <= s.period_end + make_interval(hours => ${invoiceGraceHours})), 0)
        ))::text as after_invoice,
      (array_agg(s.status order by s.sequence desc))[1] as last_status,
      (array_agg(s.last_error order by s.sequence desc))[1] as last_error,
      sum(s.attempts)::int as attempts,
      max(s.reported_at) as last_reported_at
    from usage_billing_sync s
    join customers c on c.customer_id = s.customer_id
    join usage_meters m on m.meter_id = s.meter_id
    group by s.meter_id, s.customer_id, c.user_id, m.event_name, s.period_start
    order by s.period_start desc, m.event_name, c.user_id`);
  return rows.map((r) => ({
    meterId: r.meter_id,
    customerId: r.customer_id,
    userId: r.user_id,
    eventName: r.event_name,
    periodStart: new Date(r.period_start),
    periodEnd: new Date(r.period_end),
    reported: r.reported ?? '0',
    lastStatus: r.last_status,
    lastError: r.last_error,
    attempts: Number(r.attempts),
    lastReportedAt: r.last_reported_at ? new Date(r.last_reported_at) : null,
    afterInvoice: r.after_invoice,
  }));
}

/** A customer × meter the ledger reports for. */
export type BillingPair = { meterId: string; customerId: string };

/**
 * What one Stripe summary covers: a Stripe customer's total on one Stripe meter (event
 * name) in one account, over one of our periods — and the pairs whose ledger rows went
 * there (an archived meter and its successor sharing an event name; the same Stripe
 * customer on two of ours).
 */
export type ReconcileTarget = {
  periodStart: Date;
  periodEnd: Date;
  stripeEventName: string;
  stripeCustomerId: string;
  stripeAccountId: string | null;
  pairs: BillingPair[];
};

export const targetKey = (t: { periodStart: Date; stripeEventName: string; stripeCustomerId: string; stripeAccountId: string | null }) =>
  `${t.stripeAccountId ?? ''}|${t.stripeCustomerId}|${t.stripeEventName}|${t.periodStart.toISOString()}`;

/** Every Stripe customer × meter × period the ledger has reported to, still inside Stripe's 35-day window, with the pairs that reported there. */
export async function listReconcileTargets(tx: Queryable, since: Date): Promise<ReconcileTarget[]> {
  const rows = await tx.execute<{
    meter_id: string;
    customer_id: string;
    period_start: string;
    period_end: string;
    stripe_event_name: string;
    stripe_customer_id: string;
    stripe_account_id: string | null;
  }>(sql`
    select distinct meter_id, customer_id, period_start, period_end, stripe_event_name, stripe_customer_id, stripe_account_id
    from usage_billing_sync
    where period_end > ${since.toISOString()}::timestamptz
    order by period_start, stripe_customer_id, stripe_event_name, stripe_account_id, meter_id, customer_id`);
  const targets = new Map<string, ReconcileTarget>();
  for (const r of rows) {
    const target: ReconcileTarget = {
      periodStart: new Date(r.period_start),
      periodEnd: new Date(r.period_end),
      stripeEventName: r.stripe_event_name,
      stripeCustomerId: r.stripe_customer_id,
      stripeAccountId: r.stripe_account_id,
      pairs: [],
    };
    const key = targetKey(target);
    if (!targets.has(key)) targets.set(key, target);
    targets.get(key)!.pairs.push({ meterId: r.meter_id, customerId: r.customer_id });
  }
  return [...targets.values()];
}

type TargetOf = Pick<ReconcileTarget, 'stripeEventName' | 'stripeCustomerId' | 'stripeAccountId'>;
const sameTarget = (t: TargetOf) =>
  and(
    eq(usageBillingSync.stripeEventName, t.stripeEventName),
    eq(usageBillingSync.stripeCustomerId, t.stripeCustomerId),
    t.stripeAccountId === null ? isNull(usageBillingSync.stripeAccountId) : eq(usageBillingSync.stripeAccountId, t.stripeAccountId),
  );

/** The pairs with ledger rows sent to one Stripe target in one period. */
export async function listTargetPairs(tx: Queryable, target: ReconcileTarget): Promise<BillingPair[]> {
  return tx
    .selectDistinct({ meterId: usageBillingSync.meterId, customerId: usageBillingSync.customerId })
    .from(usageBillingSync)
    .where(and(eq(usageBillingSync.periodStart, target.periodStart), sameTarget(target)));
}

/** Every ledger row sent to one Stripe target stamped in [from, to), whatever its pair or period. */
export async function listTargetSyncsBetween(tx: Queryable, target: TargetOf, from: Date, to: Date): Promise<BillingSync[]> {
  return tx
    .select()
    .from(usageBillingSync)
    .where(and(sameTarget(target), gte(usageBillingSync.eventTimestamp, from), lt(usageBillingSync.eventTimestamp, to)))
    .orderBy(asc(usageBillingSync.createdAt), asc(usageBillingSync.sequence));
}

/** Every ledger row of some customer × meter pairs in one period, oldest first. */
export async function listPeriodSyncs(tx: Queryable, pairs: BillingPair[], periodStart: Date): Promise<BillingSync[]> {
  if (pairs.length === 0) return [];
  return tx
    .select()
    .from(usageBillingSync)
    .where(and(eq(usageBillingSync.periodStart, periodStart), or(...pairs.map((p) => and(eq(usageBillingSync.meterId, p.meterId), eq(usageBillingSync.customerId, p.customerId))))))
    .orderBy(asc(usageBillingSync.createdAt), asc(usageBillingSync.sequence));
}

export type Reconciliation = typeof usageBillingReconciliations.$inferSelect;

export async function upsertReconciliation(tx: Queryable, row: typeof usageBillingReconciliations.$inferInsert): Promise<void> {
  await tx
    .insert(usageBillingReconciliations)
    .values(row)
    .onConflictDoUpdate({
      target: [usageBillingReconciliations.creatorId, usageBillingReconciliations.meterId, usageBillingReconciliations.customerId, usageBillingReconciliations.periodStart],
      set: {
        periodEnd: row.periodEnd,
        ourQuantity: row.ourQuantity,
        reportedQuantity: row.reportedQuantity,
        stripeQuantity: row.stripeQuantity,
        drift: row.drift,
        error: row.error,
        action: row.action,
        checkedAt: row.checkedAt,
      },
    });
}

export async function listReconciliations(tx: Queryable): Promise<Reconciliation[]> {
  return tx.select().from(usageBillingReconciliations);
}

export async function findCreatorsWithStripe(db: Db): Promise<string[]> {
  const rows = await db
    .select({ creatorId: creatorSettings.creatorId })
    .from(creatorSettings)
    .where(sql`${creatorSettings.stripeSecretKeyEncrypted} is not null or ${creatorSettings.stripeConnectAccountId} is not null`);
  return rows.map((r) => r.creatorId);
}

export async function findStripeWebhookSecret(tx: Queryable): Promise<string | null> {
  const [row] = await tx.select({ secret: creatorSettings.stripeWebhookSecretEncrypted }).from(creatorSettings);
  return row?.secret ?? null;
}

/** Records a webhook event once; false when it was already received (a redelivery). */
export async function claimStripeWebhookEvent(tx: Queryable, row: typeof stripeWebhookEvents.$inferInsert): Promise<boolean> {
  const inserted = await tx.insert(stripeWebhookEvents).values(row).onConflictDoNothing().returning({ id: stripeWebhookEvents.eventId });
  return inserted.length > 0;
}

export async function setStripeWebhookOutcome(tx: Queryable, eventId: string, outcome: string): Promise<void> {
  await tx.update(stripeWebhookEvents).set({ outcome }).where(eq(stripeWebhookEvents.eventId, eventId));
}

/**
 * Every customer linked to a Stripe customer id (several may share one: members of one
 * organisation billed together), locked in id order for the subscription update.
 */
export async function findCustomersByStripeId(tx: Queryable, stripeCustomerId: string) {
  return tx
    .select({
      id: customers.customerId,
      eventAt: customers.stripeSubscriptionEventAt,
      billingAnchor: customers.billingAnchor,
      subscriptionItems: customers.stripeSubscriptionItems,
    })
    .from(customers)
    .where(eq(customers.stripeCustomerId, stripeCustomerId))
    .orderBy(asc(customers.customerId))
    .for('update');
}

export async function updateCustomerSubscription(
  tx: Queryable,
  customerId: string,
  patch: {
    stripeSubscriptionId: string;
    stripeSubscriptionStatus: string;
    stripeSubscriptionEventAt: Date;
    billingAnchor?: Date;
    stripeSubscriptionInterval?: string;
    stripeSubscriptionIntervalCount?: number;
  },
  at: Date,
): Promise<void> {
  await tx.update(customers).set({ ...patch, updatedAt: at }).where(eq(customers.customerId, customerId));
}

/**
 * Customers whose live Stripe subscription bills on an interval other than one month (as its
 * last event said): their periods here are monthly all the same (ADR 0013, amendment of 2026-11-27 on subscription intervals).
 */
export async function listUnsupportedIntervalCustomers(tx: Queryable) {
  return tx
    .select({
      userId: customers.userId,
      subscriptionId: customers.stripeSubscriptionId,
      interval: customers.stripeSubscriptionInterval,
      intervalCount: customers.stripeSubscriptionIntervalCount,
    })
    .from(customers)
    .where(
      and(
        isNotNull(customers.stripeSubscriptionInterval),
        sql`not (${customers.stripeSubscriptionInterval} = 'month' and coalesce(${customers.stripeSubscriptionIntervalCount}, 1) = 1)`,
        sql`coalesce(${customers.stripeSubscriptionStatus}, '') not in ('canceled', 'incomplete_expired')`,
      ),
    )
    .orderBy(asc(customers.userId));
}

/**
 * Customers with usage in their current period of a live metered meter linked to Stripe, but
 * no `stripe_customer_id`: reports pass them over (there is no Stripe customer to send their
 * usage to). At most `limit`, by user id, with each one's meters and how many there are in all.
 */
export async function listUnlinkedCustomersWithUsage(tx: Queryable, now: Date, limit: number): Promise<Array<{ userId: string; meters: string; total: number }>> {
  const at = now.toISOString();
  const rows = await tx.execute<{ user_id: string; meters: string; total: number }>(sql`
    select c.user_id, string_agg(distinct m.event_name, ', ' order by m.event_name) as meters, (count(*) over ())::int as total
    from usage_aggregates a
    join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
    join usage_meters m on m.creator_id = a.creator_id and m.meter_id = a.meter_id
    where a."window" = 'period' and a.window_start <= ${at}::timestamptz and a.window_end > ${at}::timestamptz and a.value > 0
      and c.stripe_customer_id is null
      and m.stripe_meter_event_name is not null and m.billing_model = 'metered' and m.archived_at is null
      and ${notSuperseded('a')}
    group by c.user_id
    order by c.user_id
    limit ${limit}`);
  return rows.map((r) => ({ userId: r.user_id, meters: r.meters, total: Number(r.total) }));
}
