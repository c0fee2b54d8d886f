import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  findCreatorsDueForReport,
  claimStripeWebhookEvent,
  findCreatorsWithStripe,
  findCustomersByStripeId,
  findOpenSync,
  findStripeWebhookSecret,
  setStripeWebhookOutcome,
  updateCustomerSubscription,
  findPeriodPosition,
  readReportState,
  reportKey,
  findStripeSettings,
  lockConnectState,
  insertSync,
  listPeriodSyncs,
  listReconcileTargets,
  listTargetPairs,
  listTargetSyncsBetween,
  listReconciliations,
  listStripeCustomers,
  listSyncStatus,
  listUnsupportedIntervalCustomers,
  listUnlinkedCustomersWithUsage,
  lockBillingPair,
  lockSync,
  updateStripeSettingsRow,
  updateSync,
  upsertReconciliation,
  targetKey,
  type BillingPair,
  type BillingSync,
  type ReconcileTarget,
} from '../../db/queries/billing.js';
import { findCustomerByUserId } from '../../db/queries/customers.js';
import { findMeter, listMeters, updateMeterRow, type Meter } from '../../db/queries/meters.js';
import { ensureSettings } from '../../db/queries/settings.js';
import { counterKey, readCounters } from '../../db/queries/usage.js';
import { waitingJobKeys } from '../../db/queries/jobs.js';
import { BOSS_SCHEMA } from '../../jobs/boss.js';
import type { Queryable } from '../../db/client.js';
import type { usageBillingReconciliations } from '../../db/schema.js';
import { lockCreatorConfig, withCreator } from '../../db/tenant.js';
import { AppError, conflict, notFound, validationError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { z } from 'zod';
import type { ZReconcileResult } from '../schemas/billing.js';
import { withWarnings, type Warning } from '../schemas/plan-notes.js';
import { aggregationOf } from './aggregation/index.js';
import { holdsClaim, isClaimed } from './claims.js';
import { periodAnchorWouldMove } from './customers.js';
import { isUniqueViolation } from './db-errors.js';
import { D, roundQuantity, toWire } from './decimal.js';
import { periodAt, previousPeriod, type Period } from './periods.js';
import { getLicensedStatus, planLicensedQuantities, reconcileLicensedQuantities, setLicensedQuantity, type LicensedStatusRow } from './billing-licensed.js';
import {
  connectAuthorizeUrl,
  createStripeBilling,
  decryptStripeSecret,
  exchangeConnectCode,
  encryptStripeSecret,
  StripeCallError,
  verifyStripeWebhook,
  type StripeBilling,
  type StripeCredentials,
  type StripeMeterFound,
} from './stripe-client.js';

/**
 * Usage → Stripe Billing Meter Events, exactly once. See docs/decisions/0013-stripe-reporting.md.
 *
 * Every report is a ledger row first (usage_billing_sync), committed before any call:
 * the delta between the period total and what earlier rows of that period carried, under
 * an identifier derived from creator+meter+customer+period+sequence. A row is resent
 * unchanged until Stripe accepts it or says its identifier already exists, so no retry,
 * crash or timeout can count usage twice; a row's call runs under its row lock, and a
 * customer × meter has at most one open row, so it never has two calls in flight.
 */

/** A period counter's value as billed: in the meter's unit, rounded to 9 decimals as every figure we answer (ADR 0009). */
const billedQuantity = (meter: Meter, counterValue: string) => roundQuantity(aggregationOf(meter.aggregationType).toUnit(new D(counterValue), meter.unitName));

/** Stripe remembers meter event identifiers for 24 h; past that, an unanswered row is resent only after reconciliation. */
const IDENTIFIER_WINDOW_MS = 23 * 3600 * 1000;
/** Stripe refuses meter event values with more significant digits. */
const STRIPE_SIGNIFICANT_DIGITS = 15;
/** Stripe refuses meter events older than 35 days. */
const MAX_EVENT_AGE_MS = 35 * 24 * 3600 * 1000;
/** Attempts within one sync call before leaving the row pending for the next run. */
const MAX_ATTEMPTS_PER_CALL = 8;
const MAX_WAIT_MS = 30_000;
/** The longest one run keeps calling Stripe for a row (calls and waits) before leaving it for the next report. */
const SEND_BUDGET_MS = 5 * 60_000;
/** How long past that budget a report's claim holds: time to record the answer (wider than claims.ts's margin: a run may end on a long wait). Older claims belong to dead processes. */
export const REPORT_CLAIM_MARGIN_MS = 60_000;

type SyncPatch = Parameters<typeof updateSync>[2];

export type BillingPeriod = { start: Date; end: Date };

export type SyncOutcome = {
  status: 'reported' | 'up_to_date' | 'pending' | 'failed' | 'unknown';
  /** Cumulative quantity Stripe has accepted for the period. */
  reported: string;
  error?: string;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Meter event calls in flight in this process, per Stripe account × customer × event name:
 * Stripe takes one call at a time there (a second draws a 429), and several of our pairs can
 * reach one — customers of an organisation sharing a Stripe customer, an archived meter and
 * its successor sharing an event name, a report run and a compensation at once. The pair
 * lock serialises rows of one pair only; this queues the calls of all of them.
 */
const stripeSlots = new Map<string, Promise<unknown>>();

async function oneCallAtATime<T>(key: string, call: () => Promise<T>): Promise<T> {
  const mine = (stripeSlots.get(key) ?? Promise.resolve()).then(call);
  const tail = mine.catch(() => undefined);
  stripeSlots.set(key, tail);
  try {
    return await mine;
  } finally {
    if (stripeSlots.get(key) === tail) stripeSlots.delete(key);
  }
}

/** Deterministic: the same row always sends the same identifier. */
export function syncIdentifier(creatorId: string, meterId: string, customerId: string, periodStart: Date, sequence: number): string {
  const digest = createHash('sha256').update(`${creatorId}|${meterId}|${customerId}|${periodStart.toISOString()}|${sequence}`).digest('base64url');
  return `su_${digest.slice(0, 40)}_${sequence}`;
}

/**
 * The whole minutes inside a period: Stripe's meter event summaries start and end on a
 * minute, so this is the span of a period reconciliation can ask Stripe about without
 * taking in a neighbouring period's events (a period anchored at 09:15:30 starts its
 * window at 09:16:00 and ends it at the next period's 09:15:00).
 */
export function stripeWindow(period: BillingPeriod): BillingPeriod {
  return { start: new Date(Math.ceil(period.start.getTime() / 60_000) * 60_000), end: new Date(Math.floor(period.end.getTime() / 60_000) * 60_000) };
}

/**
 * The meter event's time: now (whole seconds), kept inside the period's whole minutes —
 * so Stripe bills it in the period and its summary for those minutes includes it. In a
 * period's first partial minute that is up to 59 s ahead (Stripe takes 5 min); after the
 * period it is the last second of its last whole minute.
 */
export function eventTimestamp(period: BillingPeriod, now: Date): Date {
  const window = stripeWindow(period);
  const second = Math.floor(now.getTime() / 1000) * 1000;
  return new Date(Math.min(Math.max(second, window.start.getTime()), window.end.getTime() - 1000));
}

const stripeNotConfigured = () =>
  new AppError('conflict', { code: 'stripe_not_configured', detail: 'Set a Stripe key or Connect account first (PUT /api/usage/settings/stripe).' });

/** Whether a creator's settings reach a Stripe account at all (a key of their own, or a connected account). */
const stripeConfigured = (settings: { connectAccountId: string | null; secretKeyEncrypted: string | null } | null | undefined) =>
  Boolean(settings?.connectAccountId || settings?.secretKeyEncrypted);

async function credentialsOf(rt: Runtime, creatorId: string, stripeAccountId: string | null): Promise<StripeCredentials> {
  if (stripeAccountId) return { kind: 'connect', accountId: stripeAccountId };
  const settings = await withCreator(rt.db, creatorId, (tx) => findStripeSettings(tx));
  if (settings?.connectAccountId) return { kind: 'connect', accountId: settings.connectAccountId };
  if (settings?.secretKeyEncrypted) return { kind: 'secret_key', secretKey: decryptStripeSecret(rt.env, settings.secretKeyEncrypted, rt.log) };
  throw stripeNotConfigured();
}

export class BillingService {
  private stripe: StripeBilling | null = null;

  constructor(
    private readonly rt: Runtime,
    private readonly creatorId: string,
  ) {}

  private async client(stripeAccountId: string | null): Promise<StripeBilling> {
    if (stripeAccountId) return createStripeBilling(this.rt.env, { kind: 'connect', accountId: stripeAccountId });
    this.stripe ??= createStripeBilling(this.rt.env, await credentialsOf(this.rt, this.creatorId, null));
    return this.stripe;
  }

  /**
   * Brings Stripe's total for one customer × meter × period up to `usageQuantity` (the
   * period total in the meter's unit): reports the difference from what the ledger has
   * reported, as one meter event with a deterministic identifier (two when the difference
   * has more significant digits than Stripe takes). Open rows of the pair are finished
   * first. `subscriptionItemId` is recorded for audit (meter events are keyed by customer
   * and meter event name; the item's price points at the meter).
   *
   * The total is rounded to 9 decimals, as every figure we answer (ADR 0009), so Stripe
   * bills what the usage endpoint shows; each delta is that rounded total minus what was
   * reported, so Stripe's sum is the rounded total, never rounded pieces drifting from it.
   */
  async syncUsageToBilling(
    meterId: string,
    userId: string,
    billingPeriod: BillingPeriod,
    usageQuantity: string | number,
    stripeAccountId: string | null,
    subscriptionItemId: string | null,
  ): Promise<SyncOutcome> {
    const given = new D(usageQuantity);
    if (!given.isFinite() || given.isNegative()) throw validationError([{ field: 'usageQuantity', message: 'must be a finite number ≥ 0' }]);
    const total = roundQuantity(given);
    const { rt, creatorId } = this;
    const target = await withCreator(rt.db, creatorId, async (tx) => {
      const meter = await findMeter(tx, meterId);
      if (!meter) throw notFound('Meter');
      // A licensed price bills a subscription item's quantity, never meter events (reportUsageToStripe sets it).
      if (meter.billingModel === 'licensed') throw validationError([{ field: 'billing_model', message: 'this meter is licensed: it is billed by a subscription item’s quantity, not meter events' }]);
      if (!meter.stripeMeterEventName) throw validationError([{ field: 'stripe_meter_event_name', message: 'this meter is not linked to a Stripe meter' }]);
      const customer = await findCustomerByUserId(tx, userId);
      if (!customer) throw notFound('Customer');
      if (!customer.stripeCustomerId) throw validationError([{ field: 'stripe_customer_id', message: 'this customer is not linked to a Stripe customer' }]);
      // The platform key reaches every account of the platform: only the one this creator connected.
      if (stripeAccountId !== null && (await findStripeSettings(tx))?.connectAccountId !== stripeAccountId) {
        throw validationError([{ field: 'stripeAccountId', message: 'is not the Stripe account this creator has connected' }]);
      }
      return { meter, customer, eventName: meter.stripeMeterEventName, stripeCustomerId: customer.stripeCustomerId };
    });
    const stripe = await this.client(stripeAccountId);

    // Each turn sends at most one row; a few turns when older rows are still open.
    for (let turn = 0; turn < 20; turn++) {
      const next = await withCreator(rt.db, creatorId, async (tx) => {
        await lockBillingPair(tx, creatorId, meterId, target.customer.id);
        const open = await findOpenSync(tx, meterId, target.customer.id);
        if (open && open.stripeAccountId !== stripeAccountId && (open.status === 'pending' || !isClaimed(open.sendingUntil, rt.now()))) {
          // Written for a Stripe account this creator no longer reports to: not sent there
          // now (nor through the current credentials, which do not know its customer); the
          // quantity goes with the next row, to the account reported to now. A row already
          // tried (or whose sender died mid-call) may have reached the old account: it says so.
          const account = open.stripeAccountId ?? 'the creator’s own key';
          const tried = open.attempts > 0 || open.status === 'in_flight';
          await updateSync(tx, open.syncId, {
            status: 'failed',
            sendingUntil: null,
            lastError: tried
              ? `not sent again: its Stripe account (${account}) is no longer the one reported to; an earlier attempt may have reached it — check that account for identifier ${open.identifier}`
              : `not sent: its Stripe account (${account}) is no longer the one reported to`,
          });
          return { again: true as const };
        }
        if (open) return { row: open, fresh: false, complete: false };
        const position = await findPeriodPosition(tx, meterId, target.customer.id, billingPeriod.start);
        // A report of unknown outcome to an account the creator no longer reports to can never be
        // reconciled (its target is not read any more: stripe_account_disconnected): like a tried
        // row left open there, it is closed saying where it may have landed, and the quantity goes
        // with the next report, to the account reported to now.
        const elsewhere = position.unknown.filter((u) => u.stripeAccountId !== stripeAccountId);
        if (elsewhere.length > 0) {
          for (const u of elsewhere) {
            await updateSync(tx, u.syncId, {
              status: 'failed',
              sendingUntil: null,
              lastError: `not settled: its Stripe account (${u.stripeAccountId ?? 'the creator’s own key'}) is no longer the one reported to, and its outcome was never known — check that account for identifier ${u.identifier}`,
            });
          }
          return { again: true as const };
        }
        if (position.unknown.length > 0) return { outcome: { status: 'unknown', reported: position.cumulative, error: 'An earlier report has no known outcome; reconcile first.' } as SyncOutcome };
        const delta = total.minus(position.cumulative);
        // A total below what was reported (a correction) is reconciliation's to compensate.
        if (delta.lessThanOrEqualTo(0)) return { outcome: { status: 'up_to_date', reported: position.cumulative } as SyncOutcome };
        const now = rt.now();
        if (now.getTime() - eventTimestamp(billingPeriod, now).getTime() > MAX_EVENT_AGE_MS) {
          return { outcome: { status: 'failed', reported: position.cumulative, error: 'The period ended more than 35 days ago; Stripe no longer accepts its events.' } as SyncOutcome };
        }
        // Stripe refuses values past 15 significant digits: send what fits, the rest next turn.
        const piece = delta.toSignificantDigits(STRIPE_SIGNIFICANT_DIGITS, D.ROUND_DOWN);
        const cumulative = piece.plus(position.cumulative);
        const sequence = position.lastSequence + 1;
        const row = await insertSync(tx, {
          creatorId,
          syncId: randomUUID(),
          meterId,
          customerId: target.customer.id,
          periodStart: billingPeriod.start,
          periodEnd: billingPeriod.end,
          sequence,
          quantityDelta: toWire(piece),
          cumulativeTotal: toWire(cumulative),
          identifier: syncIdentifier(creatorId, meterId, target.customer.id, billingPeriod.start, sequence),
          eventTimestamp: eventTimestamp(billingPeriod, now),
          stripeEventName: target.eventName,
          stripeCustomerId: target.stripeCustomerId,
          stripeAccountId,
          stripeSubscriptionItemId: subscriptionItemId,
          status: 'pending',
          createdAt: now,
        });
        return { row, fresh: true, complete: cumulative.equals(total) };
      });
      if ('again' in next) continue;
      if ('outcome' in next) return next.outcome!;
      const sent = await this.sendRow(stripe, next.row.syncId);
      if (sent.status !== 'reported' || next.complete) return sent;
      // An older open row went out, or this one carried part of the total; go round for the rest.
    }
    throw new AppError('internal', { code: 'billing_sync_loop', detail: 'Too many ledger rows in one sync.' });
  }

  /**
   * Sends one ledger row until Stripe answers for it. A timeout or a 5xx resends the same
   * identifier; a 429 waits Retry-After; "identifier already exists" means an earlier
   * attempt was applied.
   *
   * No transaction stays open during the calls and waits: a short one claims the row
   * (`in_flight`, `sending_until`), the calls run, another records the answer. A run that
   * finds the row claimed waits for its holder to record it (polling, as it waited on the
   * row lock before) and answers with that outcome; a claim whose process died lapses, and
   * the row is resent under the same identifier.
   */
  private async sendRow(stripe: StripeBilling, syncId: string): Promise<SyncOutcome> {
    const started = performance.now();
    for (let poll = 0; ; poll++) {
      const sent = await this.sendRowUnlessClaimed(stripe, syncId);
      // A live holder records its answer within its budget; past that (a clock that does
      // not move, say) the row is left pending rather than waited on for ever.
      if (!('claimed' in sent)) return sent;
      if (performance.now() - started > SEND_BUDGET_MS + REPORT_CLAIM_MARGIN_MS) {
        return { status: 'pending', reported: sent.claimed.cumulativeTotal, error: 'Another run is sending this report.' };
      }
      await sleep(Math.min(25 * 2 ** poll, 500));
    }
  }

  /** One try of sendRow: `claimed` (the row) when another run holds it. */
  private async sendRowUnlessClaimed(stripe: StripeBilling, syncId: string): Promise<SyncOutcome | { claimed: BillingSync }> {
    const { rt, creatorId } = this;
    const claimed = await withCreator(rt.db, creatorId, async (tx): Promise<{ outcome: SyncOutcome | { claimed: BillingSync } } | { row: BillingSync; until: Date; firstSentAt: Date }> => {
      const row = await lockSync(tx, syncId);
      if (!row) throw notFound('Billing sync');
      if (row.status !== 'pending' && row.status !== 'in_flight') return { outcome: this.outcomeOf(row) };
      const now = rt.now();
      // A row another run is sending is that run's to record, however old it is by now: the
      // identifier-window verdict below would throw away its answer (and, reconciled as failed
      // meanwhile, have the usage sent again under a new identifier).
      if (isClaimed(row.sendingUntil, now)) return { outcome: { claimed: row } };
      if (now.getTime() - row.createdAt.getTime() > IDENTIFIER_WINDOW_MS) {
        await updateSync(tx, syncId, { status: 'unknown', lastError: 'No answer within Stripe’s 24 h identifier window; reconcile before resending.', sendingUntil: null });
        return { outcome: { status: 'unknown', reported: row.cumulativeTotal, error: 'outcome unknown past the identifier window' } };
      }
      const until = new Date(now.getTime() + SEND_BUDGET_MS + REPORT_CLAIM_MARGIN_MS);
      // A row sent before first_sent_at existed (migration 0030): its creation is the earliest.
      const firstSentAt = row.firstSentAt ?? (row.attempts > 0 || row.status === 'in_flight' ? row.createdAt : now);
      await updateSync(tx, syncId, { status: 'in_flight', sendingUntil: until, firstSentAt });
      return { row, until, firstSentAt };
    });
    if ('outcome' in claimed) return claimed.outcome;
    const { row, until, firstSentAt } = claimed;

    const started = performance.now();
    let attempts = row.attempts;
    let lastError: string | null = null;
    let answer: { patch: SyncPatch; outcome: SyncOutcome } | null = null;
    // Stripe took it with this call (its 2xx), or, answered "already exists", with an earlier
    // send of the same identifier: at the first, at the earliest (stripeTookAt, db/schema.ts).
    const reported = (requestId: string | null, took: 'now' | 'earlier') => ({
      patch: { status: 'succeeded', attempts, lastError: null, stripeRequestId: requestId, reportedAt: rt.now(), stripeTookAt: took === 'now' ? rt.now() : firstSentAt, nextAttemptAt: null } as const,
      outcome: { status: 'reported', reported: row.cumulativeTotal } as const,
    });
    try {
      for (let i = 0; i < MAX_ATTEMPTS_PER_CALL && !answer; i++) {
        attempts++;
        try {
          const { requestId } = await oneCallAtATime(`${row.stripeAccountId ?? `key:${creatorId}`}|${row.stripeCustomerId}|${row.stripeEventName}`, () =>
            stripe.createMeterEvent({
              eventName: row.stripeEventName,
              stripeCustomerId: row.stripeCustomerId,
              value: row.quantityDelta,
              identifier: row.identifier,
              timestamp: row.eventTimestamp,
            }),
          );
          answer = reported(requestId, 'now');
        } catch (error) {
          if (!(error instanceof StripeCallError)) throw error;
          if (error.kind === 'duplicate') answer = reported(error.requestId, 'earlier');
          else if (error.kind === 'rejected') {
            rt.log.warn({ creatorId, syncId, error: error.message }, 'Stripe refused a meter event');
            answer = {
              patch: { status: 'failed', attempts, lastError: error.message, stripeRequestId: error.requestId },
              outcome: { status: 'failed', reported: row.cumulativeTotal, error: error.message },
            };
          } else {
            lastError = error.message;
            const wait = error.kind === 'rate_limited' ? (error.retryAfterMs ?? 1000) : Math.min(200 * 2 ** i, 5000);
            rt.log.info({ creatorId, syncId, kind: error.kind, attempt: attempts, waitMs: wait }, 'Stripe meter event to retry with the same identifier');
            // Within the claim: no call may still be under way once it lapses.
            if (wait > MAX_WAIT_MS || performance.now() - started + wait + rt.env.STRIPE_TIMEOUT_MS > SEND_BUDGET_MS) break;
            await sleep(wait);
          }
        }
      }
    } catch (error) {
      // A fault of ours, not Stripe's answer: the row goes back to pending for the next run.
      await withCreator(rt.db, creatorId, async (tx) => {
        if (holdsClaim((await lockSync(tx, syncId))?.sendingUntil, until)) await updateSync(tx, syncId, { status: 'pending', sendingUntil: null });
      }).catch(() => undefined);
      throw error;
    }
    answer ??= {
      patch: { status: 'pending', attempts, lastError, nextAttemptAt: new Date(rt.now().getTime() + 60_000) },
      outcome: { status: 'pending', reported: row.cumulativeTotal, error: lastError ?? undefined },
    };
    const { patch, outcome } = answer;
    return withCreator(rt.db, creatorId, async (tx) => {
      const current = await lockSync(tx, syncId);
      if (!holdsClaim(current?.sendingUntil, until)) {
        // The claim lapsed (this process stalled past its margin) and another run took the
        // row over: it records the row's outcome (resending is safe, same identifier).
        rt.log.warn({ creatorId, syncId }, 'Stripe answer arrived after the report’s claim lapsed; left to the run that holds it');
        return { claimed: current ?? row };
      }
      await updateSync(tx, syncId, { ...patch, sendingUntil: null });
      return outcome;
    });
  }

  /** Sends a ledger row written by reconciliation (a compensating event) like any report: same identifier until Stripe answers. */
  async sendCompensation(syncId: string, stripeAccountId: string | null): Promise<SyncOutcome> {
    return this.sendRow(await this.client(stripeAccountId), syncId);
  }

  private outcomeOf(row: BillingSync): SyncOutcome {
    if (row.status === 'succeeded') return { status: 'reported', reported: row.cumulativeTotal };
    return { status: row.status === 'failed' ? 'failed' : 'unknown', reported: row.cumulativeTotal, error: row.lastError ?? undefined };
  }
}

/**
 * How long after a period's end its usage may still be reported: late events are accepted
 * through the grace, and the report after them may be a whole interval (and an hour of slack
 * for a slow run) later. Until then the period is still being reported, to the meter it was.
 */
export const finalReportWindowMs = (graceHours: number, reportIntervalMinutes: number) => graceHours * 3_600_000 + reportIntervalMinutes * 60_000 + 3_600_000;

/** The Stripe customer × meter event name a customer × meter reports to: one call at a time there. */
const laneOf = (customer: { stripeCustomerId: string | null }, meter: Meter) => `${customer.stripeCustomerId}|${meter.stripeMeterEventName}`;

export type ReportSummary = { pairs: number; reported: number; up_to_date: number; pending: number; failed: number; unknown: number };

/**
 * Reports every Stripe-linked customer × meter of a creator, archived meters included:
 * the current period's total, the previous period's while it is within the late-event
 * grace (its final total at period end), and any older period Stripe still takes (35 days)
 * whose total the ledger has not reported yet. The job `billing.report` and `POST /api/usage/billing/sync` both call it.
 */
export async function reportUsageToStripe(rt: Runtime, creatorId: string): Promise<ReportSummary> {
  const now = rt.now();
  const plan = await withCreator(rt.db, creatorId, async (tx) => {
    const settings = await ensureSettings(tx, creatorId);
    const stripe = await findStripeSettings(tx);
    // Without a Stripe account nothing can be reported: refused before anything is recorded
    // (a "last report" time included), whether or not there is usage to report.
    if (!stripeConfigured(stripe)) throw stripeNotConfigured();
    await updateStripeSettingsRow(tx, { stripeLastReportAt: now }, now);
    // Archived meters too: usage recorded while they were live is still owed to Stripe.
    const allMeters = await listMeters(tx, { includeArchived: true });
    // Licensed meters never go as meter events (one linked before linking them was refused included):
    // their customers' subscription item quantities are set instead (billing-licensed.ts).
    const meters = allMeters.filter((m) => m.stripeMeterEventName && m.billingModel !== 'licensed');
    const licensed = await planLicensedQuantities(tx, creatorId, allMeters, now);
    const customers = await listStripeCustomers(tx);
    // Every counter and ledger position the run needs, in one round trip whatever the number
    // of customers (it read each customer's counters, and each pair's ledger, in turn).
    const state = await readReportState(tx, creatorId, meters.map((m) => m.id), new Date(now.getTime() - MAX_EVENT_AGE_MS));
    const counterValues = new Map(state.counters.map((c) => [reportKey(c.meterId, c.customerId, c.periodStart), c.value]));
    // Each customer's periods with counters, as they were metered: an anchor moved since (by the
    // creator, or by Stripe) leaves periods the current anchor no longer yields.
    const meteredPeriods = new Map<string, Map<number, Period>>();
    for (const c of state.counters) {
      const periods = meteredPeriods.get(c.customerId) ?? new Map<number, Period>();
      periods.set(c.periodStart.getTime(), { start: c.periodStart, end: c.periodEnd });
      meteredPeriods.set(c.customerId, periods);
    }
    // `lane`: the Stripe customer × meter event name the item reports to (below).
    const work: Array<{ meterId: string; userId: string; period: Period; quantity: string; subscriptionItemId: string | null; lane: string }> = [];
    let upToDate = 0;
    for (const customer of customers) {
      const periods = [periodAt(now, customer.billingAnchor)];
      const previous = previousPeriod(now, customer.billingAnchor);
      // Until one report has surely run after the grace: late events accepted in its last
      // minutes are owed too, and the next scheduled report may be a whole interval away.
      const finalReportBy = previous.end.getTime() + finalReportWindowMs(settings.lateEventGraceHours, stripe?.reportIntervalMinutes ?? 5);
      if (now.getTime() < finalReportBy) periods.push(previous);
      // Older periods Stripe still takes (35 days) are reported where the ledger is short of
      // the counter: their window passed with usage unreported (workers down, reports
      // refused until the creator fixed a key or a customer). Not counted when up to date.
      // The periods metered, not the current anchor's: one of an earlier anchor is owed too.
      const older = [...(meteredPeriods.get(customer.id)?.values() ?? [])].filter(
        (p) => p.end.getTime() <= now.getTime() && now.getTime() - p.end.getTime() < MAX_EVENT_AGE_MS && !periods.some((q) => q.start.getTime() === p.start.getTime()),
      );
      for (const [period, isOlder] of [...periods.map((p) => [p, false] as const), ...older.map((p) => [p, true] as const)]) {
        for (const meter of meters) {
          const key = reportKey(meter.id, customer.id, period.start);
          const value = counterValues.get(key);
          if (value === undefined) continue;
          const quantity = billedQuantity(meter, value);
          const position = state.positions.get(key) ?? { cumulative: '0', hasUnknown: false };
          // What syncUsageToBilling would answer "up to date" without a call: nothing above
          // the ledger's total, no row of unknown outcome, no row of the pair left to send.
          const rose = quantity.greaterThan(position.cumulative);
          if (isOlder ? !rose : !rose && !position.hasUnknown && !state.openPairs.has(`${meter.id}|${customer.id}`)) {
            if (!isOlder) upToDate++;
            continue;
          }
          work.push({ meterId: meter.id, userId: customer.userId, period, quantity: toWire(quantity), subscriptionItemId: customer.stripeSubscriptionItems[meter.eventName] ?? null, lane: laneOf(customer, meter) });
        }
      }
    }
    // A row left to send (Stripe rate-limited a period's final report, or its sender died) is
    // sent by its pair's sync, which the loop above queues only for a period it looks at with
    // a counter: a customer with no usage since, or a row of a period the anchor no longer
    // yields, would keep it unsent for good. Each such pair gets an item for the open row's
    // own period (its quantity: the period's total when known, else what the row carries).
    const queued = new Set(work.map((w) => `${w.meterId}|${w.userId}`));
    const byId = { meters: new Map(meters.map((m) => [m.id, m])), customers: new Map(customers.map((c) => [c.id, c])) };
    for (const open of state.openRows) {
      const meter = byId.meters.get(open.meterId);
      const customer = byId.customers.get(open.customerId);
      // A pair no longer linked (meter or customer) cannot be synced; its row waits for the link.
      if (!meter || !customer || queued.has(`${meter.id}|${customer.userId}`)) continue;
      const value = counterValues.get(reportKey(meter.id, customer.id, open.periodStart));
      const quantity = value === undefined ? new D(open.cumulative) : D.max(billedQuantity(meter, value), open.cumulative);
      const period = { start: open.periodStart, end: open.periodEnd };
      work.push({ meterId: meter.id, userId: customer.userId, period, quantity: toWire(quantity), subscriptionItemId: customer.stripeSubscriptionItems[meter.eventName] ?? null, lane: laneOf(customer, meter) });
      queued.add(`${meter.id}|${customer.userId}`);
    }
    return { work, upToDate, licensed, connectAccountId: stripe?.connectAccountId ?? null };
  });
  const summary: ReportSummary = { pairs: plan.work.length + plan.upToDate + plan.licensed.length, reported: 0, up_to_date: plan.upToDate, pending: 0, failed: 0, unknown: 0 };
  await reportMeterEvents(rt, creatorId, plan, summary);
  if (plan.licensed.length > 0) {
    // Same credentials as meter events: the connected account with the platform key, else the creator's key.
    const stripe = createStripeBilling(rt.env, await credentialsOf(rt, creatorId, plan.connectAccountId));
    for (const item of plan.licensed) {
      const outcome = await setLicensedQuantity(rt, creatorId, stripe, item, plan.connectAccountId);
      summary[outcome.status]++;
    }
  }
  return summary;
}

async function reportMeterEvents(
  rt: Runtime,
  creatorId: string,
  plan: { work: Array<{ meterId: string; userId: string; period: Period; quantity: string; subscriptionItemId: string | null; lane: string }>; connectAccountId: string | null },
  summary: ReportSummary,
): Promise<void> {
  if (plan.work.length === 0) return;
  const service = new BillingService(rt, creatorId);
  // A few lanes at once. A lane is one Stripe customer × meter event name: Stripe takes one
  // call at a time there (a second gets 429), and our customers of one organisation share a
  // Stripe customer, so their pairs go one after the other; each pair sends one row at a time.
  const lanes = new Map<string, typeof plan.work>();
  for (const item of plan.work) lanes.set(item.lane, [...(lanes.get(item.lane) ?? []), item]);
  const queue = [...lanes.values()];
  await Promise.all(
    Array.from({ length: Math.min(4, queue.length) }, async () => {
      for (let lane = queue.shift(); lane; lane = queue.shift()) {
        for (const item of lane) {
          const outcome = await service.syncUsageToBilling(item.meterId, item.userId, item.period, item.quantity, plan.connectAccountId, item.subscriptionItemId);
          summary[outcome.status]++;
        }
      }
    }),
  );
}

export type StripeSettingsView = {
  configured: 'secret_key' | 'connect' | null;
  connect_account_id: string | null;
  report_interval_minutes: number;
  invoice_grace_hours: number;
  last_report_at: string | null;
  webhook_configured: boolean;
  webhook_path: string;
};

const toView = (
  creatorId: string,
  s: { secretKeyEncrypted: string | null; connectAccountId: string | null; reportIntervalMinutes: number; invoiceGraceHours: number; lastReportAt: Date | null },
  webhookSecret: string | null,
): StripeSettingsView => ({
  configured: s.connectAccountId ? 'connect' : s.secretKeyEncrypted ? 'secret_key' : null,
  connect_account_id: s.connectAccountId,
  report_interval_minutes: s.reportIntervalMinutes,
  invoice_grace_hours: s.invoiceGraceHours,
  last_report_at: s.lastReportAt?.toISOString() ?? null,
  webhook_configured: webhookSecret !== null,
  webhook_path: `/api/stripe/webhooks/${creatorId}`,
});

export async function getStripeSettings(rt: Runtime, creatorId: string): Promise<StripeSettingsView> {
  return withCreator(rt.db, creatorId, async (tx) => {
    await ensureSettings(tx, creatorId);
    return toView(creatorId, (await findStripeSettings(tx))!, await findStripeWebhookSecret(tx));
  });
}

/**
 * Stores a key (encrypted, write-only; it replaces a Connect account), the report interval,
 * the invoice grace and the webhook secret. A Connect account is not set here: an account id
 * is no proof of owning the account, and the platform key reaches every account of the
 * platform, so the first creator to name one would report into it. It comes only from
 * Stripe's answer to an authorization its owner approved (startStripeConnect).
 */
export async function updateStripeSettings(
  rt: Runtime,
  creatorId: string,
  input: { secret_key?: string; connect_account_id?: string; report_interval_minutes?: number; invoice_grace_hours?: number; webhook_secret?: string },
): Promise<StripeSettingsView & { warnings?: Warning[] }> {
  if (input.connect_account_id !== undefined) {
    throw validationError([
      {
        field: 'connect_account_id',
        message: 'is set by connecting through Stripe, where the account’s owner approves it: POST /api/usage/settings/stripe/connect, or “Connect with Stripe” on the dashboard’s Billing page',
      },
    ]);
  }
  // Asked before the transaction (no Stripe call holds one, ADR 0015): a key Stripe refuses is not stored.
  const warnings = input.secret_key ? await checkStripeKey(rt, input.secret_key) : [];
  const at = rt.now();
  const view = await withCreator(rt.db, creatorId, async (tx) => {
    await ensureSettings(tx, creatorId);
    await updateStripeSettingsRow(
      tx,
      {
        ...(input.secret_key ? { stripeSecretKeyEncrypted: encryptStripeSecret(rt.env, input.secret_key, rt.log), stripeConnectAccountId: null } : {}),
        ...(input.report_interval_minutes !== undefined ? { stripeReportIntervalMinutes: input.report_interval_minutes } : {}),
        ...(input.invoice_grace_hours !== undefined ? { stripeInvoiceGraceHours: input.invoice_grace_hours } : {}),
        ...(input.webhook_secret ? { stripeWebhookSecretEncrypted: encryptStripeSecret(rt.env, input.webhook_secret, rt.log) } : {}),
      },
      at,
    );
    return toView(creatorId, (await findStripeSettings(tx))!, await findStripeWebhookSecret(tx));
  });
  return withWarnings(view, warnings);
}

/**
 * A secret key asked of Stripe before it is stored (one page of Billing meters, nothing
 * written): one Stripe does not know (401) is refused with 422 and nothing is saved — every
 * report would fail with it, which the creator would learn only from the Billing page later.
 * One Stripe knows but will not let list meters (a restricted key without that permission),
 * or that could not be checked (Stripe unreachable, 5xx, 429), is stored with a warning saying so.
 */
async function checkStripeKey(rt: Runtime, secretKey: string): Promise<Warning[]> {
  try {
    await createStripeBilling(rt.env, { kind: 'secret_key', secretKey }).checkCredentials();
    return [];
  } catch (error) {
    if (!(error instanceof StripeCallError)) throw error;
    if (error.kind === 'rejected' && error.status === 401) {
      throw validationError([{ field: 'secret_key', message: `is refused by Stripe (${error.message}); nothing was saved. Copy the account’s secret key (sk_…) or a restricted key (rk_…) again.` }]);
    }
    if (error.kind === 'rejected') {
      return [{ field: 'secret_key', message: `was saved, but Stripe refused to list Billing meters with it (${error.message}): a restricted key needs Billing meters read and meter events write to report usage.` }];
    }
    return [{ field: 'secret_key', message: `was saved without being checked: Stripe could not be reached (${error.message}). The Billing page says so if Stripe refuses it when usage is reported.` }];
  }
}

/** How long a Connect authorization may take, from its start to Stripe's redirect back. */
const CONNECT_STATE_TTL_MS = 15 * 60_000;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * Starts connecting a Stripe account (Connect OAuth): a one-time `state` bound to this
 * creator (only its hash is stored; a new start replaces an unfinished one), and the URL of
 * Stripe's page where the account's owner approves this platform. Stripe then sends their
 * browser to `redirect_uri` with a code and the state, which completeStripeConnect checks.
 */
export async function startStripeConnect(rt: Runtime, creatorId: string, input: { redirect_uri: string }): Promise<{ authorize_url: string; expires_at: string }> {
  if (!rt.env.STRIPE_SECRET_KEY || !rt.env.STRIPE_CONNECT_CLIENT_ID) {
    throw conflict(
      'stripe_connect_unavailable',
      'This server cannot connect Stripe accounts: its operator has not set STRIPE_SECRET_KEY (the platform key) and STRIPE_CONNECT_CLIENT_ID (README, "Configuration"). Use a secret key of your own account instead.',
    );
  }
  const state = randomBytes(32).toString('base64url');
  const expiresAt = new Date(rt.now().getTime() + CONNECT_STATE_TTL_MS);
  await withCreator(rt.db, creatorId, async (tx) => {
    await ensureSettings(tx, creatorId);
    await updateStripeSettingsRow(tx, { stripeConnectStateHash: sha256(state).toString('hex'), stripeConnectStateExpiresAt: expiresAt }, rt.now());
  });
  return { authorize_url: connectAuthorizeUrl(rt.env, { state, redirectUri: input.redirect_uri }), expires_at: expiresAt.toISOString() };
}

/**
 * Completes a Connect authorization: the `state` must be the one this creator's start issued,
 * unexpired and unused (it is spent here, whatever follows); the account is the one Stripe
 * says the `code` was approved for. One creator per account (409 otherwise). The account
 * replaces a secret key, as a key replaces an account.
 */
export async function completeStripeConnect(rt: Runtime, creatorId: string, input: { code: string; state: string }): Promise<StripeSettingsView> {
  const now = rt.now();
  const spent = await withCreator(rt.db, creatorId, async (tx) => {
    const pending = await lockConnectState(tx);
    if (!pending?.hash || !pending.expiresAt) return 'none';
    const given = sha256(input.state);
    const expected = Buffer.from(pending.hash, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'mismatch';
    await updateStripeSettingsRow(tx, { stripeConnectStateHash: null, stripeConnectStateExpiresAt: null }, now);
    return pending.expiresAt.getTime() <= now.getTime() ? 'expired' : 'ok';
  });
  if (spent !== 'ok') {
    const why = { none: 'no Connect authorization was started for this account', mismatch: 'is not the one issued when this account started connecting', expired: 'has expired (15 minutes)' }[spent];
    throw validationError([{ field: 'state', message: `${why}: start again (POST /api/usage/settings/stripe/connect)` }]);
  }
  // Outside any transaction: a call to Stripe holds none (ADR 0015).
  let accountId: string;
  try {
    accountId = (await exchangeConnectCode(rt.env, input.code)).accountId;
  } catch (error) {
    if (error instanceof StripeCallError && error.kind === 'rejected') {
      throw validationError([{ field: 'code', message: `Stripe refused it (${error.message}): start again` }]);
    }
    throw new AppError('unavailable', { code: 'stripe_unavailable', detail: 'Stripe could not be reached to complete the connection. Start again in a moment.' });
  }
  return withCreator(rt.db, creatorId, async (tx) => {
    await updateStripeSettingsRow(tx, { stripeConnectAccountId: accountId, stripeSecretKeyEncrypted: null }, rt.now()).catch((error: unknown) => {
      // The platform key acts on any account of the platform: an account connected to
      // another creator must not be reachable through this one (usage reported into it,
      // its totals read back by reconciliation).
      if (isUniqueViolation(error, 'creator_settings_stripe_connect_account_key')) {
        throw conflict('stripe_account_taken', `The Stripe account ${accountId} is connected to another creator here. Connect an account of your own.`);
      }
      throw error;
    });
    rt.log.info({ creatorId, accountId }, 'Stripe account connected');
    return toView(creatorId, (await findStripeSettings(tx))!, await findStripeWebhookSecret(tx));
  });
}

export type BillingStatusRow = {
  user_id: string;
  meter_id: string;
  event_name: string;
  period_start: string;
  period_end: string;
  quantity: string;
  reported_quantity: string;
  stripe_quantity: string | null;
  reconciled_at: string | null;
  reconciled_reported_quantity: string | null;
  drift: string | null;
  status: 'in_sync' | 'behind' | 'drifting' | 'pending' | 'failed' | 'unknown';
  last_error: string | null;
  next_step: string | null;
  attempts: number;
  last_reported_at: string | null;
  after_invoice_quantity: string;
};

export type BillingCustomerNote = { user_id: string; code: 'unsupported_interval' | 'no_stripe_customer'; detail: string };

/** Customers listed at most as having usage that no report can send (no stripe_customer_id). */
const UNLINKED_LISTED = 20;

/**
 * What the billing status says about customers rather than periods: a customer whose Stripe
 * subscription bills on an interval other than one month keeps monthly periods here (its
 * anchor is not applied), so limits, overage and reports do not follow Stripe's invoices; and
 * customers with usage of a metered meter linked to Stripe but no stripe_customer_id, whose
 * usage no report sends (the first UNLINKED_LISTED by user id).
 */
export async function getBillingCustomerNotes(rt: Runtime, creatorId: string): Promise<BillingCustomerNote[]> {
  const now = rt.now();
  const { intervals, unlinked } = await withCreator(rt.db, creatorId, async (tx) => {
    await ensureSettings(tx, creatorId);
    const settings = (await findStripeSettings(tx))!;
    const configured = settings.connectAccountId !== null || settings.secretKeyEncrypted !== null;
    return { intervals: await listUnsupportedIntervalCustomers(tx), unlinked: configured ? await listUnlinkedCustomersWithUsage(tx, now, UNLINKED_LISTED) : [] };
  });
  const intervalNotes = intervals.map((r) => {
    const every = r.intervalCount && r.intervalCount !== 1 ? `every ${r.intervalCount} ${r.interval}s` : `every ${r.interval}`;
    return {
      user_id: r.userId,
      code: 'unsupported_interval' as const,
      detail: `Stripe bills subscription ${r.subscriptionId ?? '(unknown)'} ${every}; periods here are monthly only, so this customer's periods (limits, overage, reports) stay monthly on their previous anchor and do not match Stripe's invoices. Bill this customer on a monthly subscription, or reconcile its invoices by hand.`,
    };
  });
  // Usage a report passes over: reports go to a Stripe customer, and this one has none. Said,
  // rather than left out of the status as if there were nothing to bill.
  const unlinkedNotes = unlinked.map((r, index) => ({
    user_id: r.userId,
    code: 'no_stripe_customer' as const,
    detail:
      `This period's usage of ${r.meters} is not reported to Stripe: the customer has no stripe_customer_id. If you bill this customer, give it one (PUT /api/usage/customers/{user_id}); the next report sends the whole period. A customer you do not bill needs nothing.` +
      (index === 0 && r.total > unlinked.length ? ` (${unlinked.length} of ${r.total} such customers are listed.)` : ''),
  }));
  return [...intervalNotes, ...unlinkedNotes];
}

/**
 * What a creator can do about a row that is not in sync. Stripe's own message (last_error)
 * says what it refused; this says where that is fixed here. A failed report's quantity is
 * sent again by the next report (a failed row is not part of what Stripe holds).
 */
function nextStepOf(status: BillingStatusRow['status'], lastError: string | null, reconciliation: { error: string | null; action: string } | null): string | null {
  const error = lastError ?? '';
  switch (status) {
    case 'in_sync':
      return null;
    case 'behind':
      return 'Nothing: the next report (every report interval, or Report now) sends it.';
    case 'pending':
      return 'Nothing unless it stays pending: it is sent again with the same identifier, so Stripe counts it once.';
    case 'unknown':
      return 'Reconcile now: it finds out from Stripe’s totals whether the report counted, and sends it again if not.';
    case 'failed':
      if (error.startsWith('not settled:')) return 'Check that Stripe account for the identifier named, and bill what it lacks by hand.';
      if (/no such customer/i.test(error))
        return 'Give this customer the stripe_customer_id of a customer in the Stripe account usage is reported to (PUT /api/usage/customers/{user_id}), then Report now.';
      if (/meter/i.test(error) && /resource_missing|no active/i.test(error))
        return 'Create the Stripe meter (Create in Stripe under Meters in Stripe, or POST /api/usage/meters/{id}/stripe-meter) or give the meter the stripe_meter_event_name of an existing one, then Report now.';
      if (/authentication|permission|api key/i.test(error))
        return 'Save a Stripe key that may write Billing meter events (or connect the account again) under Stripe connection, then Report now.';
      return 'Fix what Stripe says, then Report now: the next report sends this quantity again.';
    case 'drifting': {
      const action = reconciliation?.action ?? '';
      if (reconciliation?.error === OVER_REPORTED_REASON)
        return 'Cancel the extra meter events in Stripe (meter event adjustments, within 24 h, by identifier) or credit the customer’s invoice: events cannot be negative, so this is not corrected here.';
      if (action.includes('reported too recently'))
        return 'Nothing yet: Stripe’s totals lag its meter events; a later reconciliation (nightly, or Reconcile now in a few minutes) checks again and corrects what is still missing.';
      if (action.startsWith('compensat')) return 'Nothing: a compensating meter event was sent for what Stripe lacked; the next reconciliation confirms it.';
      if (action.includes('still open')) return 'Reconcile again once the open report is settled (Report now sends it).';
      if (action.includes('no known outcome')) return 'Reconcile again: the report whose outcome is unknown is settled first.';
      if (action.includes('overlaps')) return 'Check this customer’s invoices in Stripe by hand: two of its billing periods overlap there, and what is missing cannot be told apart.';
      return 'Reconcile now to check again; what is missing and recent enough is sent as a compensating meter event.';
    }
  }
}

/** Per customer × meter × period with ledger rows: our total now, what Stripe accepted, Stripe's own total at the last reconciliation, the state. */
export async function getBillingStatus(rt: Runtime, creatorId: string): Promise<BillingStatusRow[]> {
  return withCreator(rt.db, creatorId, async (tx) => {
    await ensureSettings(tx, creatorId);
    const rows = await listSyncStatus(tx, (await findStripeSettings(tx))!.invoiceGraceHours);
    const meters = new Map((await listMeters(tx, { includeArchived: true })).map((m) => [m.id, m]));
    const counters = await readCounters(tx, rows.map((r) => ({ meterId: r.meterId, customerId: r.customerId, periodStart: r.periodStart })));
    const reconciliations = new Map((await listReconciliations(tx)).map((r) => [counterKey(r), r]));
    return rows.map((r) => {
      const meter = meters.get(r.meterId)!;
      const key = counterKey({ meterId: r.meterId, customerId: r.customerId, periodStart: r.periodStart });
      const counter = counters.get(key);
      const reconciliation = reconciliations.get(key);
      const quantity = billedQuantity(meter, counter?.value ?? '0');
      const drifting = reconciliation?.drift != null && !new D(reconciliation.drift).isZero();
      const status: BillingStatusRow['status'] =
        r.lastStatus === 'pending' || r.lastStatus === 'in_flight'
          ? 'pending'
          : r.lastStatus === 'failed'
            ? 'failed'
            : r.lastStatus === 'unknown'
              ? 'unknown'
              : drifting
                ? 'drifting'
                : quantity.equals(r.reported)
                  ? 'in_sync'
                  : 'behind';
      return {
        user_id: r.userId,
        meter_id: r.meterId,
        event_name: r.eventName,
        period_start: r.periodStart.toISOString(),
        period_end: r.periodEnd.toISOString(),
        quantity: toWire(quantity),
        reported_quantity: toWire(new D(r.reported)),
        stripe_quantity: reconciliation?.stripeQuantity ?? null,
        reconciled_at: reconciliation?.checkedAt.toISOString() ?? null,
        reconciled_reported_quantity: reconciliation?.reportedQuantity ?? null,
        drift: reconciliation?.drift ?? null,
        status,
        last_error: r.lastError ?? reconciliation?.error ?? null,
        next_step: nextStepOf(status, r.lastError, reconciliation ?? null),
        attempts: r.attempts,
        last_reported_at: r.lastReportedAt?.toISOString() ?? null,
        after_invoice_quantity: toWire(new D(r.afterInvoice)),
      };
    });
  });
}

/** Licensed meters' rows of the billing status: per customer, our quantity, Stripe's, the state and what to do (billing-licensed.ts). */
export async function getLicensedBillingStatus(rt: Runtime, creatorId: string): Promise<LicensedStatusRow[]> {
  return withCreator(rt.db, creatorId, async (tx) => getLicensedStatus(tx, creatorId, await listMeters(tx, { includeArchived: true }), rt.now()));
}

/**
 * Linking a licensed meter to a Stripe Billing Meter is refused (422 naming the field): a
 * licensed price bills a subscription item's quantity, which the report sets from the
 * customer's usage; meter events for it would bill nothing, or bill twice through a metered
 * price on the same Stripe meter.
 */
export function licensedMeterLinkRefused(field: 'stripe_meter_event_name' | 'billing_model') {
  return validationError(
    [
      {
        field,
        message:
          field === 'billing_model'
            ? 'cannot be licensed while the meter is linked to a Stripe Billing Meter (stripe_meter_event_name): a licensed meter is billed by its customers’ subscription item quantities, not meter events; unlink it (stripe_meter_event_name: null) in the same request'
            : 'cannot link a licensed meter to a Stripe Billing Meter: it is billed by setting the quantity of each customer’s subscription item (stripe_subscription_items.<event_name>), not by meter events',
      },
    ],
    'A licensed meter is billed through subscription item quantities, not Stripe Billing Meters.',
  );
}

/**
 * Queues billing.report for every creator whose report interval has passed and who has none
 * waiting to run: with workers down or Stripe failing every run, one job a minute per creator
 * would otherwise pile up (a report sends each row once through the ledger, so that was load,
 * not double billing). Returns how many it queued.
 */
export async function queueDueBillingReports(rt: Runtime): Promise<number> {
  return queueOncePerCreator(rt, 'billing.report', await findCreatorsDueForReport(rt.ownerDb, rt.now()));
}

/** One job of the queue per creator, unless one is already waiting; how many were queued. */
async function queueOncePerCreator(rt: Runtime, queue: 'billing.report' | 'billing.reconcile', creatorIds: string[]): Promise<number> {
  const waiting = await waitingJobKeys(rt.ownerDb, BOSS_SCHEMA, queue);
  const queued = creatorIds.filter((creatorId) => !waiting.has(creatorId));
  for (const creatorId of queued) await rt.boss.send(queue, { creatorId }, { singletonKey: creatorId });
  return queued.length;
}

/** What a reconciliation answers: the wire schema's type, so the two cannot drift apart. */
export type ReconcileSummary = z.infer<typeof ZReconcileResult>;

const OVER_REPORTED_REASON =
  'over_reported: Stripe holds more than the ledger reported. Meter events cannot be negative, so this is not corrected automatically; cancel the extra events in Stripe (meter event adjustments, within 24 h, by identifier) or credit the invoice.';

/**
 * Stripe sums meter events in binary floating point: a difference within that rounding
 * (2^-52 of the total for each event summed) or below the 9 decimals we send is noise,
 * not drift. Counted as drift, it would be "compensated" for ever with amounts Stripe's
 * total cannot even hold (1,000,000,000.000000001 is 1e9 as a double).
 */
export function withinStripeRounding(stripe: InstanceType<typeof D>, expected: InstanceType<typeof D>, eventsSummed: number): boolean {
  const tolerance = D.max(stripe.abs(), expected.abs())
    .times(2 ** -52)
    .times(Math.max(1, eventsSummed))
    .plus('0.0000000005');
  return stripe.minus(expected).abs().lessThanOrEqualTo(tolerance);
}

const pairKey = (p: BillingPair) => `${p.meterId}|${p.customerId}`;

type PairRecord = typeof usageBillingReconciliations.$inferInsert;
/** One target's figures for one pair; a pair re-linked mid-period has one per Stripe customer. */
type RecordPart = Pick<PairRecord, 'ourQuantity' | 'reportedQuantity' | 'stripeQuantity' | 'drift' | 'error' | 'action'>;

/** A pair's record: its parts added up (no Stripe figure when one part has none: its error says why). */
function mergeParts(base: Pick<PairRecord, 'creatorId' | 'meterId' | 'customerId' | 'periodStart' | 'periodEnd' | 'checkedAt'>, parts: RecordPart[]): PairRecord {
  const sum = (pick: (p: RecordPart) => string | null | undefined) =>
    parts.some((p) => pick(p) == null) ? null : toWire(parts.reduce((acc, p) => acc.plus(pick(p)!), new D(0)));
  const actions = parts.map((p) => p.action).filter((a) => a && a !== 'none');
  return {
    ...base,
    ourQuantity: parts[0]!.ourQuantity,
    reportedQuantity: sum((p) => p.reportedQuantity)!,
    stripeQuantity: sum((p) => p.stripeQuantity),
    drift: sum((p) => p.drift),
    error: parts.find((p) => p.error)?.error ?? null,
    action: actions.length ? actions.join('; ') : 'none',
  };
}

/**
 * Which of some unanswered reports Stripe's total includes, when its total tells: the first
 * subset (none, then one, …) whose quantities make up the difference between Stripe's total
 * and what it holds without any of them. Any subset that does leaves the same money: the
 * reports marked failed are sent again, so Stripe ends with all of them once. Null when no
 * subset fits (something else moved Stripe's total too) or there are too many to try.
 */
export function appliedSubset(deltas: string[], stripeTotal: InstanceType<typeof D>, without: InstanceType<typeof D>, eventsSummed: number): boolean[] | null {
  if (deltas.length > 12) return null;
  const masks = Array.from({ length: 1 << deltas.length }, (_, mask) => mask).sort((a, b) => bitCount(a) - bitCount(b) || a - b);
  for (const mask of masks) {
    const sum = deltas.reduce((acc, d, i) => (mask & (1 << i) ? acc.plus(d) : acc), new D(0));
    if (withinStripeRounding(stripeTotal, without.plus(sum), eventsSummed)) return deltas.map((_, i) => (mask & (1 << i)) !== 0);
  }
  return null;
}
const bitCount = (n: number) => n.toString(2).replace(/0/g, '').length;

const minuteOf = (at: Date) => Math.floor(at.getTime() / 60_000) * 60_000;
const isOpen = (r: BillingSync) => r.status === 'pending' || r.status === 'in_flight';

/**
 * Compares Stripe's meter event summaries with what the ledger says Stripe should hold,
 * per Stripe customer × Stripe meter (event name) × account × period — what one summary
 * covers — and records the result per customer × meter × period of ours.
 *
 * What Stripe should hold there is the sum of the succeeded rows sent there that are not
 * compensations (a compensation restores a quantity Stripe lost, it adds nothing), over
 * every pair of ours that reported there: an archived meter and its successor sharing an
 * event name feed one Stripe meter, and a customer re-linked to another Stripe customer
 * mid-period has sent part of the period to each. Stripe is asked for the period's whole
 * minutes only (summaries are minute-aligned), which is where every report's timestamp
 * lies (`eventTimestamp`); rows outside them (sent before reports were placed there) are
 * left out of both sides.
 *
 * Rows whose outcome is unknown (unanswered past Stripe's 24 h identifier window) are
 * settled first, only while no report there is open: by the subset of them that makes up
 * Stripe's total over the window, else minute by minute (Stripe's total for the minute of
 * each one's timestamp, against the ledger's rows stamped in that minute). Settled: in
 * Stripe's total → succeeded, else failed (the next report resends that quantity under a
 * new identifier). One that neither tells apart stays unknown, said in the action. Then,
 * when none of the pairs has an open or unknown row:
 * - Stripe below → a compensating ledger row for the missing quantity on the pair that
 *   reported there last, next sequence, its own deterministic identifier, sent like any
 *   report; it leaves that pair's cumulative total unchanged.
 * - Stripe above → recorded as `over_reported` with the reason: meter events cannot be negative.
 * Nothing is corrected while a report there is younger than STRIPE_SUMMARY_LAG_MS (Stripe's
 * summaries are eventually consistent).
 */
export async function reconcileBilling(rt: Runtime, creatorId: string): Promise<ReconcileSummary> {
  const summary = await reconcileMeterEvents(rt, creatorId);
  // Licensed meters: each item's quantity read back from Stripe, set again where it was changed there.
  const { items, connectAccountId } = await withCreator(rt.db, creatorId, async (tx) => ({
    items: await planLicensedQuantities(tx, creatorId, await listMeters(tx, { includeArchived: true }), rt.now()),
    connectAccountId: (await findStripeSettings(tx))?.connectAccountId ?? null,
  }));
  if (items.length > 0) {
    const stripe = createStripeBilling(rt.env, await credentialsOf(rt, creatorId, connectAccountId));
    summary.licensed = await reconcileLicensedQuantities(rt, creatorId, stripe, items, connectAccountId);
  }
  return summary;
}

async function reconcileMeterEvents(rt: Runtime, creatorId: string): Promise<ReconcileSummary> {
  const now = rt.now();
  const { targets, meters, connected } = await withCreator(rt.db, creatorId, async (tx) => {
    const settings = await findStripeSettings(tx);
    if (!stripeConfigured(settings)) throw stripeNotConfigured();
    return {
      targets: await listReconcileTargets(tx, new Date(now.getTime() - MAX_EVENT_AGE_MS)),
      meters: new Map((await listMeters(tx, { includeArchived: true })).map((m) => [m.id, m])),
      connected: settings?.connectAccountId ?? null,
    };
  });
  const summary: ReconcileSummary = { pairs: targets.length, in_sync: 0, drifting: 0, resolved: 0, errors: 0, compensated: 0, over_reported: 0 };
  const clients = new Map<string, StripeBilling>();
  const meterIds = new Map<string, string | null>();
  // Per pair × period, its part in each target it reported to (several when re-linked mid-period).
  const parts = new Map<string, Map<string, RecordPart>>();
  const writeRecord = async (tx: Queryable, pair: BillingPair, target: ReconcileTarget, part: RecordPart) => {
    const key = `${pairKey(pair)}|${target.periodStart.toISOString()}`;
    const byTarget = parts.get(key) ?? new Map<string, RecordPart>();
    byTarget.set(targetKey(target), part);
    parts.set(key, byTarget);
    const base = { creatorId, meterId: pair.meterId, customerId: pair.customerId, periodStart: target.periodStart, periodEnd: target.periodEnd, checkedAt: now };
    await upsertReconciliation(tx, mergeParts(base, [...byTarget.values()]));
  };

  for (const target of targets) {
    const pairs = [...target.pairs].sort((a, b) => pairKey(a).localeCompare(pairKey(b)));
    if (!pairs.every((p) => meters.has(p.meterId))) continue;
    const period = { start: target.periodStart, end: target.periodEnd };
    const window = stripeWindow(period);
    // The minutes of unanswered rows, each asked about on its own if the window's total cannot tell them apart.
    const planned = await withCreator(rt.db, creatorId, (tx) => listPeriodSyncs(tx, pairs, target.periodStart));
    const unknownMinutes = [...new Set(planned.filter((r) => r.status === 'unknown' && targetKey(r) === targetKey(target)).map((r) => minuteOf(r.eventTimestamp)))];
    // Stripe is asked before any transaction: no lock waits on its answers.
    let stripeTotal: InstanceType<typeof D> | null = null;
    const minuteTotals = new Map<number, InstanceType<typeof D>>();
    let error: string | null = null;
    let readAt = rt.now();
    try {
      // The platform key reaches every account of the platform: one this creator no longer
      // has connected (another creator's now, perhaps) is neither read nor written to.
      if (target.stripeAccountId !== null && target.stripeAccountId !== connected) {
        throw new AppError('conflict', { code: 'stripe_account_disconnected', detail: `Reported to Stripe account ${target.stripeAccountId}, which is no longer connected: not checked (connect it again to reconcile it).` });
      }
      // Reported with the creator's own key, which a Connect account has replaced: the account
      // asked now is not the one reported to (a compensation would go to the wrong one).
      if (target.stripeAccountId === null && connected !== null) {
        throw new AppError('conflict', { code: 'stripe_account_disconnected', detail: 'Reported with your own Stripe key, which a Connect account has replaced since: not checked.' });
      }
      const clientKey = target.stripeAccountId ?? '';
      let stripe = clients.get(clientKey);
      if (!stripe) {
        stripe = target.stripeAccountId
          ? createStripeBilling(rt.env, { kind: 'connect', accountId: target.stripeAccountId })
          : createStripeBilling(rt.env, await credentialsOf(rt, creatorId, null));
        clients.set(clientKey, stripe);
      }
      const meterKey = `${clientKey}|${target.stripeEventName}`;
      if (!meterIds.has(meterKey)) meterIds.set(meterKey, await stripe.findMeterId(target.stripeEventName));
      const stripeMeterId = meterIds.get(meterKey);
      if (!stripeMeterId) throw new StripeCallError('rejected', `No active Stripe meter has event_name ${target.stripeEventName}.`, null);
      readAt = rt.now();
      const total = (start: number, end: number) => stripe.meterTotal({ meterId: stripeMeterId, stripeCustomerId: target.stripeCustomerId, start: new Date(start), end: new Date(end) });
      stripeTotal = new D(await total(window.start.getTime(), window.end.getTime()));
      for (const minute of unknownMinutes) minuteTotals.set(minute, new D(await total(minute, minute + 60_000)));
    } catch (caught) {
      if (!(caught instanceof StripeCallError) && !(caught instanceof AppError)) throw caught;
      error = caught.message;
    }
    const decided = await withCreator(rt.db, creatorId, async (tx) => {
      for (const pair of pairs) await lockBillingPair(tx, creatorId, pair.meterId, pair.customerId);
      // A pair that began reporting here since the list was made is not locked: next run.
      const locked = new Set(pairs.map(pairKey));
      if ((await listTargetPairs(tx, target)).some((p) => !locked.has(pairKey(p)))) return null;
      const rows = await listPeriodSyncs(tx, pairs, target.periodStart);
      const here = rows.filter((r) => targetKey(r) === targetKey(target));
      const status = new Map(rows.map((r) => [r.syncId, r.status]));
      const inWindow = (r: BillingSync) => r.eventTimestamp >= window.start && r.eventTimestamp < window.end;
      const counted = () => here.filter((r) => status.get(r.syncId) === 'succeeded' && inWindow(r));
      // Another period's reports stamped inside this window: after Stripe moved a customer's
      // anchor, the old period and the new one overlap, and each one's reports made during the
      // overlap lie in both windows — Stripe's total here counts them too.
      const overlapping = (await listTargetSyncsBetween(tx, target, window.start, window.end)).filter(
        (r) => r.periodStart.getTime() !== target.periodStart.getTime() && r.status === 'succeeded' && !r.compensates,
      );
      const fromOverlap = overlapping.reduce((sum, r) => sum.plus(r.quantityDelta), new D(0));
      /** What Stripe should hold here from one pair (or all, with other periods' reports in the window): its succeeded reports; compensations only restore. */
      const expectedOf = (pair?: BillingPair) =>
        counted()
          .filter((r) => !r.compensates && (!pair || pairKey(r) === pairKey(pair)))
          .reduce((sum, r) => sum.plus(r.quantityDelta), pair ? new D(0) : fromOverlap);
      const actions: string[] = [];
      // Stripe's total may not include a report made shortly before it was read (its
      // summaries are eventually consistent), nor one made after (a report run between the
      // read and this lock): judged against it, such a report would look lost and be sent
      // again. Nothing here is corrected until its reports are older than the lag.
      const settling = here.some((r) => r.reportedAt !== null && r.reportedAt.getTime() > readAt.getTime() - rt.env.STRIPE_SUMMARY_LAG_MS);
      const isUnknown = (r: BillingSync) => (status.get(r.syncId) ?? r.status) === 'unknown';
      const settle = async (row: BillingSync, applied: boolean) => {
        status.set(row.syncId, applied ? 'succeeded' : 'failed');
        await updateSync(tx, row.syncId, applied ? { status: 'succeeded', reportedAt: now, stripeTookAt: row.firstSentAt ?? row.createdAt, lastError: 'reconciled: found in Stripe’s total' } : { status: 'failed', lastError: 'reconciled: not in Stripe’s total; resent under a new identifier' });
        actions.push(`${row.identifier} ${applied ? 'applied' : 'not applied'}`);
        summary.resolved++;
      };
      if (stripeTotal !== null && !settling && here.some(isUnknown)) {
        if (here.some(isOpen)) actions.push('unanswered reports not settled: a report here is still open, and may or may not be in Stripe’s total');
        else {
          // The window: Stripe's total without any of them is what should be there less the
          // compensations among them (each restores a quantity Stripe had lost).
          const inside = here.filter((r) => isUnknown(r) && inWindow(r));
          const without = inside.filter((r) => r.compensates).reduce((acc, r) => acc.minus(r.quantityDelta), expectedOf());
          const subset = inside.length ? appliedSubset(inside.map((r) => r.quantityDelta), stripeTotal, without, counted().length + inside.length) : null;
          if (subset) for (const [i, row] of inside.entries()) await settle(row, subset[i]!);
          // Minute by minute what the window could not tell apart: only the ledger's rows stamped in that minute are in its total.
          for (const minute of [...new Set(here.filter(isUnknown).map((r) => minuteOf(r.eventTimestamp)))]) {
            const minuteTotal = minuteTotals.get(minute);
            if (!minuteTotal) continue;
            const stamped = await listTargetSyncsBetween(tx, target, new Date(minute), new Date(minute + 60_000));
            if (stamped.some(isOpen)) continue;
            const unanswered = stamped.filter(isUnknown);
            const applied = stamped.filter((r) => (status.get(r.syncId) ?? r.status) === 'succeeded').reduce((acc, r) => acc.plus(r.quantityDelta), new D(0));
            const fits = appliedSubset(unanswered.map((r) => r.quantityDelta), minuteTotal, applied, stamped.length);
            // Rows of pairs not locked here (another period's, in a shared minute) are settled when their own target is.
            if (fits) for (const [i, row] of unanswered.entries()) if (locked.has(pairKey(row)) && here.some((h) => h.syncId === row.syncId)) await settle(row, fits[i]!);
          }
          for (const row of here.filter(isUnknown)) {
            actions.push(`${row.identifier} left unknown: Stripe’s totals do not tell whether it was applied (something else moved them too); this pair’s reports for the period wait until it is settled`);
          }
        }
      }
      const expected = expectedOf();
      const drift = stripeTotal === null ? null : withinStripeRounding(stripeTotal, expected, counted().length + overlapping.length) ? new D(0) : stripeTotal.minus(expected);
      // Drift is the business of the pair that reported here last: it gets any compensation.
      const holder = here.length > 0 ? here.reduce((a, b) => (b.createdAt > a.createdAt || (b.createdAt.getTime() === a.createdAt.getTime() && b.sequence > a.sequence) ? b : a)) : null;
      let compensation: BillingSync | null = null;
      let overReported = false;
      if (error) summary.errors++;
      else if (drift?.isZero()) summary.in_sync++;
      else summary.drifting++;
      const drifting = drift !== null && !drift.isZero();
      if (drift && drifting) rt.log.warn({ creatorId, stripeCustomerId: target.stripeCustomerId, eventName: target.stripeEventName, drift: toWire(drift) }, 'Stripe total differs from the ledger');
      if (settling) {
        // Left to a later reconciliation, once the reports are older than the lag.
        if (drifting || (stripeTotal !== null && here.some(isUnknown))) actions.push('not corrected: reported too recently for Stripe’s total to be sure to include it');
      } else if (drift && drifting && holder) {
        const stamp = eventTimestamp(period, now);
        if (rows.some(isOpen)) actions.push('not corrected: a report of this pair is still open');
        else if (here.some(isUnknown)) actions.push('not corrected: a report here has no known outcome');
        else if (drift.isPositive()) {
          overReported = true;
          summary.over_reported++;
          actions.push(OVER_REPORTED_REASON);
        } else if (overlapping.length > 0) {
          // Missing here may be the overlapping period's loss, which its own reconciliation
          // compensates: compensated here too, it would be billed twice.
          actions.push('not corrected: another billing period of this customer overlaps this one (Stripe moved the billing anchor), and Stripe’s total here holds reports of both; what is missing cannot be told apart');
        } else if (now.getTime() - stamp.getTime() <= MAX_EVENT_AGE_MS) {
          const own = rows.filter((r) => pairKey(r) === pairKey(holder));
          const sequence = Math.max(...own.map((r) => r.sequence)) + 1;
          const standing = [...own].reverse().find((r) => status.get(r.syncId) !== 'failed')?.cumulativeTotal ?? '0';
          // Stripe refuses values past 15 significant digits: compensate what fits; the
          // next reconciliation finds the rest still missing and sends it.
          const missing = drift.negated().toSignificantDigits(STRIPE_SIGNIFICANT_DIGITS, D.ROUND_DOWN);
          compensation = await insertSync(tx, {
            creatorId,
            syncId: randomUUID(),
            meterId: holder.meterId,
            customerId: holder.customerId,
            periodStart: target.periodStart,
            periodEnd: target.periodEnd,
            sequence,
            quantityDelta: toWire(missing),
            // The pair's total did not move: the next report goes on from where it was.
            cumulativeTotal: standing,
            compensates: true,
            identifier: syncIdentifier(creatorId, holder.meterId, holder.customerId, target.periodStart, sequence),
            eventTimestamp: stamp,
            stripeEventName: target.stripeEventName,
            stripeCustomerId: target.stripeCustomerId,
            stripeAccountId: target.stripeAccountId,
            stripeSubscriptionItemId: holder.stripeSubscriptionItemId,
            status: 'pending',
            lastError: `compensation: Stripe held ${toWire(stripeTotal!)} of ${toWire(expected)}`,
            createdAt: now,
          });
          actions.push(`compensating ${toWire(missing)} with ${compensation.identifier}`);
        }
      }
      const shared = pairs.length > 1 ? ` (Stripe meter ${target.stripeEventName} of ${target.stripeCustomerId} is fed by ${pairs.length} of our meters × customers)` : '';
      const written = new Map<string, RecordPart>();
      for (const pair of pairs) {
        const counter = (await readCounters(tx, [{ meterId: pair.meterId, customerId: pair.customerId, periodStart: target.periodStart }])).values().next().value;
        const share = expectedOf(pair);
        // Each pair shows its share of Stripe's total; the difference is the holder's.
        const ownDrift = drift === null ? null : holder && pairKey(holder) === pairKey(pair) ? drift : new D(0);
        const part: RecordPart = {
          ourQuantity: toWire(billedQuantity(meters.get(pair.meterId)!, counter?.value ?? '0')),
          reportedQuantity: toWire(share),
          stripeQuantity: ownDrift === null ? null : toWire(roundQuantity(share.plus(ownDrift))),
          drift: ownDrift === null ? null : toWire(roundQuantity(ownDrift)),
          error: overReported && ownDrift && !ownDrift.isZero() ? OVER_REPORTED_REASON : error,
          action: actions.length ? actions.join('; ') + shared : 'none',
        };
        written.set(pairKey(pair), part);
        await writeRecord(tx, pair, target, part);
      }
      return { compensation, written };
    });
    if (!decided) continue;
    if (decided.compensation) {
      const row = decided.compensation;
      const outcome = await new BillingService(rt, creatorId).sendCompensation(row.syncId, row.stripeAccountId);
      const part = decided.written.get(pairKey(row))!;
      if (outcome.status === 'reported' && part.stripeQuantity != null && part.drift != null) {
        summary.compensated++;
        await withCreator(rt.db, creatorId, (tx) =>
          writeRecord(tx, row, target, {
            ...part,
            stripeQuantity: toWire(roundQuantity(new D(part.stripeQuantity!).plus(row.quantityDelta))),
            drift: toWire(roundQuantity(new D(part.drift!).plus(row.quantityDelta))),
            action: `compensated: Stripe held ${part.stripeQuantity}, sent ${row.quantityDelta} as ${row.identifier}`,
          }),
        );
      }
    }
  }
  return summary;
}

/** Queues billing.reconcile for every creator with Stripe configured and none waiting (nightly); how many it queued. */
export async function queueBillingReconciliations(rt: Runtime): Promise<number> {
  return queueOncePerCreator(rt, 'billing.reconcile', await findCreatorsWithStripe(rt.ownerDb));
}

const SUBSCRIPTION_EVENTS = new Set(['customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted']);

/**
 * A Stripe webhook for one creator: verified with the SDK against the creator's signing
 * secret (tampered or older than 5 minutes → 400), recorded once by event id (a
 * redelivery changes nothing), and a subscription event older than the last one applied
 * to its customer is stale (Stripe does not order deliveries). Created/updated move the
 * customer's billing anchor to the subscription's billing_cycle_anchor (its current period
 * start when absent), so periods follow Stripe's: a period start is the anchor's day
 * clamped to a short month (Nov 30 for an anchor on the 31st), so taking it as the anchor
 * would move month-end subscriptions to the 30th, or the 28th, for good.
 */
export async function receiveStripeWebhook(rt: Runtime, creatorId: string, rawBody: Buffer, signature: string | undefined): Promise<{ received: true; outcome: string }> {
  const invalid = () => new AppError('bad_request', { code: 'invalid_stripe_signature', detail: 'The Stripe-Signature header does not verify for this body, or it is too old.' });
  const stored = await withCreator(rt.db, creatorId, (tx) => findStripeWebhookSecret(tx));
  if (!stored || !signature) throw invalid();
  const event = verifyStripeWebhook(rawBody, signature, decryptStripeSecret(rt.env, stored, rt.log));
  if (!event) throw invalid();
  const now = rt.now();
  return withCreator(rt.db, creatorId, async (tx) => {
    const fresh = await claimStripeWebhookEvent(tx, { creatorId, eventId: event.id, type: event.type, eventCreated: event.created, outcome: 'ignored', receivedAt: now });
    if (!fresh) return { received: true as const, outcome: 'duplicate' };
    let outcome = 'ignored';
    const sub = event.subscription;
    if (sub && SUBSCRIPTION_EVENTS.has(event.type)) {
      // It may move a billing anchor: not while a group judges events by it (db/tenant.ts).
      await lockCreatorConfig(tx, creatorId, 'exclusive');
      const linked = await findCustomersByStripeId(tx, sub.customer);
      const outcomes: string[] = [];
      for (const customer of linked) {
        // A customer whose meters are linked to subscription items follows the subscription
        // that carries them: another subscription of the same Stripe customer (an add-on on
        // another cycle) would move its periods away from the invoice that bills its usage.
        const items = Object.values(customer.subscriptionItems ?? {});
        if (items.length > 0 && !sub.itemIds.some((id) => items.includes(id))) {
          outcomes.push('other_subscription');
          continue;
        }
        if (customer.eventAt && event.created < customer.eventAt) {
          outcomes.push('stale');
          continue;
        }
        // Periods here are monthly (server/services/periods.ts): a subscription billed on
        // another interval (yearly, weekly, every 3 months) would get monthly periods from its
        // anchor, which Stripe's invoices do not have. Its anchor is not taken; the interval is
        // recorded, warned about, and shown on the billing status (ADR 0013, amendment of 2026-11-27 on subscription intervals).
        const unsupported = sub.interval !== null && !(sub.interval.interval === 'month' && sub.interval.count === 1);
        if (unsupported && event.type !== 'customer.subscription.deleted') {
          rt.log.warn(
            { creatorId, customerId: customer.id, subscriptionId: sub.id, interval: sub.interval },
            'Stripe subscription bills on an interval other than one month, which periods here do not follow: its billing anchor is not applied',
          );
        }
        const anchor = event.type === 'customer.subscription.deleted' || unsupported ? null : (sub.billingCycleAnchor ?? sub.periodStart);
        if (anchor && anchor.getTime() !== customer.billingAnchor?.getTime()) {
          // Stripe is the authority on its periods, so the anchor moves even when that moves
          // usage recorded in an open period out of its counter (ADR 0009): say so.
          const moved = await periodAnchorWouldMove(tx, creatorId, customer.id, anchor, now);
          if (moved) rt.log.warn({ creatorId, customerId: customer.id, period: moved, anchor }, 'Stripe moved the billing anchor of a customer with usage in a period still taking events, or overlapped by one under the new anchor; that usage leaves the current figures or its days are metered twice');
        }
        await updateCustomerSubscription(
          tx,
          customer.id,
          {
            stripeSubscriptionId: sub.id,
            stripeSubscriptionStatus: sub.status,
            stripeSubscriptionEventAt: event.created,
            ...(anchor ? { billingAnchor: anchor } : {}),
            ...(sub.interval ? { stripeSubscriptionInterval: sub.interval.interval, stripeSubscriptionIntervalCount: sub.interval.count } : {}),
          },
          now,
        );
        outcomes.push(unsupported && event.type !== 'customer.subscription.deleted' ? 'unsupported_interval' : 'applied');
      }
      // Applied to any customer: applied; else what kept it from all of them.
      if (outcomes.includes('applied')) outcome = 'applied';
      else if (outcomes.includes('unsupported_interval')) outcome = 'unsupported_interval';
      else if (outcomes.length > 0) outcome = outcomes.includes('stale') ? 'stale' : 'other_subscription';
    }
    await setStripeWebhookOutcome(tx, event.id, outcome);
    return { received: true as const, outcome };
  });
}

/**
 * A Stripe meter that would bill our reports wrongly (a `last` meter bills the last delta, a
 * `count` meter the number of reports, other payload keys find no customer or value): 409,
 * naming what differs, rather than a link that bills the wrong quantity.
 */
function stripeMeterIncompatible(eventName: string, found: StripeMeterFound): AppError {
  return new AppError('conflict', {
    code: 'stripe_meter_incompatible',
    title: 'Stripe meter incompatible',
    detail: `The Stripe meter ${found.id} for event name "${eventName}" would not bill our reports as used: ${found.mismatches.join('; ')}. Our reports are deltas of the period total, sent with payload keys stripe_customer_id and value, so its meter must sum them. Deactivate that Stripe meter (or give this meter another stripe_meter_event_name) and link again.`,
    errors: [{ field: 'stripe_meter_event_name', message: found.mismatches.join('; ') }],
    meta: { stripe_meter_id: found.id, mismatches: found.mismatches },
  });
}

/**
 * Before `PATCH /meters/{id} {"stripe_meter_event_name"}` links a meter by name: when the
 * creator can reach Stripe (a key, or a Connect account on a server with the platform key),
 * a Stripe meter of that name that would bill our reports wrongly is refused (409), as
 * linking through `POST …/stripe-meter` refuses it. No Stripe meter of that name yet is
 * accepted (Stripe refuses reports until it exists). With no Stripe client for the creator
 * (nothing configured, or a Connect account on a server without the platform key) nothing
 * can be asked and the name is stored as given. A Stripe that cannot be asked refuses the
 * change (nothing changed): what it would link is unknown. Outside any transaction (ADR 0015).
 */
export async function requireCompatibleStripeMeter(rt: Runtime, creatorId: string, eventName: string): Promise<void> {
  let stripe: StripeBilling;
  try {
    stripe = createStripeBilling(rt.env, await credentialsOf(rt, creatorId, null));
  } catch (error) {
    // No Stripe client for this creator (nothing configured, or a Connect account without the platform key): nothing to ask.
    if (error instanceof AppError && (error.code === 'stripe_not_configured' || error.code === 'stripe_platform_key_missing')) return;
    throw error;
  }
  let found: StripeMeterFound | null;
  try {
    found = await stripe.findMeter(eventName);
  } catch (error) {
    if (!(error instanceof StripeCallError)) throw error;
    const detail = `Could not check the Stripe meter for event name "${eventName}" (${error.message}); nothing was changed. Try again.`;
    throw error.kind === 'rejected' ? new AppError('upstream', { code: 'stripe_error', detail }) : new AppError('unavailable', { code: 'stripe_unavailable', detail, retryAfter: 5 });
  }
  if (found && found.mismatches.length > 0) throw stripeMeterIncompatible(eventName, found);
}

/**
 * Links a meter to a Stripe Billing Meter, creating it in the creator's Stripe account
 * when none has its event name (formula sum, customer mapped by `stripe_customer_id`,
 * value from `value` — the payload our reports send). Uses the meter's Stripe event name
 * when one is set, else its own event name. Idempotent: an existing Stripe meter is reused
 * when it bills our reports that way (any Stripe meter of the name, every page of them);
 * one that does not (another formula, payload keys or an event time window) is a 409.
 */
export async function linkMeterToStripe(rt: Runtime, creatorId: string, meterId: string): Promise<Meter> {
  const meter = await withCreator(rt.db, creatorId, (tx) => findMeter(tx, meterId));
  if (!meter) throw notFound('Meter');
  if (meter.archivedAt) throw new AppError('conflict', { code: 'meter_archived', detail: 'This meter is archived; create a new one.' });
  if (meter.billingModel === 'licensed') throw licensedMeterLinkRefused('stripe_meter_event_name');
  const eventName = meter.stripeMeterEventName ?? meter.eventName;
  const stripe = createStripeBilling(rt.env, await credentialsOf(rt, creatorId, null));
  let stripeMeter: StripeMeterFound;
  try {
    stripeMeter = await stripe.ensureMeter({ eventName, displayName: meter.displayName });
  } catch (error) {
    if (!(error instanceof StripeCallError)) throw error;
    // As the PATCH that links by name answers: a refusal is Stripe's word (502), an outage a moment to wait (503).
    if (error.kind === 'rejected') throw new AppError('upstream', { code: 'stripe_error', detail: `Stripe refused to create the meter: ${error.message}` });
    throw new AppError('unavailable', { code: 'stripe_unavailable', detail: `Stripe could not be reached to find or create the meter (${error.message}); nothing was changed. Try again.`, retryAfter: 5 });
  }
  if (stripeMeter.mismatches.length > 0) throw stripeMeterIncompatible(eventName, stripeMeter);
  return withCreator(rt.db, creatorId, async (tx) => {
    await updateMeterRow(tx, meterId, { stripeMeterEventName: eventName, stripeMeterId: stripeMeter.id }, rt.now());
    return (await findMeter(tx, meterId))!;
  });
}
