import { createHash, randomUUID } from 'node:crypto';
import { lockBillingPair } from '../../db/queries/billing.js';
import {
  findLastSetQuantity,
  findOpenQuantity,
  insertQuantity,
  lastQuantitySequence,
  listLicensedCustomers,
  listQuantityStatus,
  lockQuantity,
  updateQuantity,
  type BillingQuantity,
} from '../../db/queries/billing-quantities.js';
import type { Meter } from '../../db/queries/meters.js';
import { counterKey, readCounters } from '../../db/queries/usage.js';
import type { Queryable } from '../../db/client.js';
import { withCreator } from '../../db/tenant.js';
import type { Runtime } from '../runtime.js';
import { aggregationOf } from './aggregation/index.js';
import { holdsClaim, isClaimed } from './claims.js';
import { D, roundQuantity, toWire } from './decimal.js';
import { periodAt, type Period } from './periods.js';
import { StripeCallError, type StripeBilling } from './stripe-client.js';
import type { z } from 'zod';
import type { ZReconcileResult } from '../schemas/billing.js';

/**
 * Licensed meters (`billing_model: "licensed"`): Stripe bills a licensed price by the
 * quantity of a subscription item (seats), not by meter events. A report run sets each
 * customer's item — `stripe_subscription_items[<meter's event_name>]` — to the customer's
 * usage of the meter in its current period, rounded up to a whole number, whenever that
 * differs from the quantity last set successfully (ADR 0013, amendment on licensed meters).
 *
 * - A period without a counter yet (a new period before its first event) sets nothing: the
 *   item keeps its last quantity. A seat count does not drop to 0 at a period boundary.
 * - Past periods are never set again; only the customer's current period is read.
 * - Every set is a `usage_billing_quantities` row committed before the call, sent under a
 *   claim with no transaction open (ADR 0015), with an idempotency key derived from the row
 *   (creator, meter, customer, item, sequence, quantity): a timeout, a 5xx or a dead worker
 *   leaves the row open and the next run resends it with the same key, so Stripe applies it
 *   once (and setting a quantity twice leaves the same quantity anyway). A refusal (4xx) is
 *   recorded as failed with Stripe's message; the next run writes a new row (new key).
 */

/** The whole quantity a usage makes: Stripe quantities are integers, so a fraction rounds up (2.1 seats → 3). */
export const licensedQuantity = (usage: InstanceType<typeof D>) => usage.toDecimalPlaces(0, D.ROUND_UP);

const billedUsage = (meter: Meter, counterValue: string) => roundQuantity(aggregationOf(meter.aggregationType).toUnit(new D(counterValue), meter.unitName));

/** Deterministic: a row always sends the same key, and no two rows share one. */
export function quantityIdempotencyKey(creatorId: string, meterId: string, customerId: string, subscriptionItemId: string, sequence: number, quantity: number): string {
  const digest = createHash('sha256').update(`${creatorId}|${meterId}|${customerId}|${subscriptionItemId}|${sequence}|${quantity}`).digest('base64url');
  return `sq_${digest.slice(0, 40)}_${sequence}`;
}

const MAX_ATTEMPTS_PER_CALL = 3;
const MAX_WAIT_MS = 10_000;
/** The longest one run keeps calling Stripe for a row; its claim holds that long plus a margin. */
const SEND_BUDGET_MS = 60_000;
const CLAIM_MARGIN_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type QuantityOutcome = { status: 'reported' | 'up_to_date' | 'pending' | 'failed'; quantity: number | null; error?: string };

type Item = { meter: Meter; customer: { id: string; userId: string }; period: Period | null; usage: string | null; subscriptionItemId: string };

/** The licensed meters among `meters`, and the customers they concern (none read when there are none). */
async function licensedCustomersOf(tx: Queryable, creatorId: string, meters: Meter[], now: Date) {
  const licensed = meters.filter((m) => m.billingModel === 'licensed');
  if (licensed.length === 0) return { licensed, customers: [] };
  const customers = await listLicensedCustomers(
    tx,
    creatorId,
    licensed.map((m) => m.eventName),
    licensed.map((m) => m.id),
    now,
  );
  return { licensed, customers };
}

/** The work of one run: per licensed meter × customer with a subscription item, its current period's usage (null: no counter yet). */
export async function planLicensedQuantities(tx: Queryable, creatorId: string, meters: Meter[], now: Date): Promise<Item[]> {
  const { licensed, customers } = await licensedCustomersOf(tx, creatorId, meters, now);
  if (licensed.length === 0) return [];
  const wanted = customers.flatMap((c) =>
    licensed.flatMap((meter) => {
      const subscriptionItemId = c.stripeSubscriptionItems[meter.eventName];
      return subscriptionItemId ? [{ meter, customer: c, period: periodAt(now, c.billingAnchor), subscriptionItemId }] : [];
    }),
  );
  const counters = await readCounters(
    tx,
    wanted.map((w) => ({ meterId: w.meter.id, customerId: w.customer.id, periodStart: w.period.start })),
  );
  return wanted.map((w) => {
    const counter = counters.get(counterKey({ meterId: w.meter.id, customerId: w.customer.id, periodStart: w.period.start }));
    return {
      meter: w.meter,
      customer: { id: w.customer.id, userId: w.customer.userId },
      period: counter ? w.period : null,
      usage: counter ? toWire(billedUsage(w.meter, counter.value)) : null,
      subscriptionItemId: w.subscriptionItemId,
    };
  });
}

/**
 * Brings one customer's subscription item for a licensed meter to the quantity of its
 * current period's usage: finishes an open set first (same key), then writes and sends a
 * new one if the quantity differs from the last one Stripe accepted for that item.
 */
export async function setLicensedQuantity(
  rt: Runtime,
  creatorId: string,
  stripe: StripeBilling,
  item: Item,
  stripeAccountId: string | null,
  /** What Stripe holds now, read by a reconciliation: judged against it instead of the last set. */
  options: { stripeHolds?: number } = {},
): Promise<QuantityOutcome> {
  const { meter, customer } = item;
  let finished: QuantityOutcome | null = null;
  // Only until this run sets a quantity: after that, what it set is what Stripe holds.
  let stripeHolds = options.stripeHolds;
  for (let turn = 0; turn < 5; turn++) {
    const next = await withCreator(rt.db, creatorId, async (tx): Promise<{ send: BillingQuantity; until: Date } | { outcome: QuantityOutcome } | { again: true }> => {
      await lockBillingPair(tx, creatorId, meter.id, customer.id);
      const now = rt.now();
      const until = new Date(now.getTime() + SEND_BUDGET_MS + CLAIM_MARGIN_MS);
      const open = await findOpenQuantity(tx, meter.id, customer.id);
      if (open) {
        if (isClaimed(open.sendingUntil, now)) return { outcome: { status: 'pending', quantity: open.quantity, error: 'Another run is setting this quantity.' } };
        // Written for another Stripe account or another subscription item than the customer
        // has now: not sent there; the current quantity goes to the current item below.
        const stale =
          open.stripeAccountId !== stripeAccountId
            ? `its Stripe account (${open.stripeAccountId ?? 'the creator’s own key'}) is no longer the one reported to`
            : open.stripeSubscriptionItemId !== item.subscriptionItemId
              ? `the customer’s subscription item for this meter is now ${item.subscriptionItemId}`
              : null;
        if (stale) {
          const tried = open.attempts > 0 || open.status === 'in_flight';
          await updateQuantity(tx, open.quantityId, {
            status: 'failed',
            sendingUntil: null,
            lastError: `not sent${tried ? ' again' : ''}: ${stale}${tried ? `; an earlier attempt may have set ${open.stripeSubscriptionItemId} to ${open.quantity} (idempotency key ${open.idempotencyKey})` : ''}`,
          });
          return { again: true };
        }
        await updateQuantity(tx, open.quantityId, { status: 'in_flight', sendingUntil: until });
        return { send: open, until };
      }
      // No counter in the current period yet: the item keeps the quantity last set.
      if (item.period === null || item.usage === null) return { outcome: { status: 'up_to_date', quantity: null } };
      const rounded = licensedQuantity(new D(item.usage));
      if (rounded.greaterThan(Number.MAX_SAFE_INTEGER)) return { outcome: { status: 'failed', quantity: null, error: `A quantity of ${toWire(rounded)} is more than Stripe takes.` } };
      const quantity = rounded.toNumber();
      const last = await findLastSetQuantity(tx, meter.id, customer.id, item.subscriptionItemId, stripeAccountId);
      const held = stripeHolds ?? (last ? (last.stripeQuantity ?? last.quantity) : undefined);
      if (held === quantity) return { outcome: { status: 'up_to_date', quantity } };
      const sequence = (await lastQuantitySequence(tx, meter.id, customer.id)) + 1;
      const row = await insertQuantity(tx, {
        creatorId,
        quantityId: randomUUID(),
        meterId: meter.id,
        customerId: customer.id,
        periodStart: item.period.start,
        periodEnd: item.period.end,
        sequence,
        usage: item.usage,
        quantity,
        stripeSubscriptionItemId: item.subscriptionItemId,
        stripeAccountId,
        idempotencyKey: quantityIdempotencyKey(creatorId, meter.id, customer.id, item.subscriptionItemId, sequence, quantity),
        status: 'in_flight',
        sendingUntil: until,
        createdAt: now,
      });
      return { send: row, until };
    });
    if ('again' in next) continue;
    // Nothing more to set; an older open row sent on the way is what this run did.
    if ('outcome' in next) return next.outcome.status === 'up_to_date' && finished ? finished : next.outcome;
    const sent = await sendQuantity(rt, creatorId, stripe, next.send, next.until);
    if (sent.status !== 'reported') return sent;
    stripeHolds = undefined;
    // An older open row went out: go round for the current quantity (up to date if it was that one).
    finished = sent;
  }
  return { status: 'pending', quantity: null, error: 'Too many quantity sets in one run.' };
}

/** Calls Stripe for a claimed row (no transaction open), then records the answer if the claim still holds. */
async function sendQuantity(rt: Runtime, creatorId: string, stripe: StripeBilling, row: BillingQuantity, until: Date): Promise<QuantityOutcome> {
  const started = performance.now();
  let attempts = row.attempts;
  let lastError: string | null = null;
  let answer: { patch: Parameters<typeof updateQuantity>[2]; outcome: QuantityOutcome } | null = null;
  try {
    for (let i = 0; i < MAX_ATTEMPTS_PER_CALL && !answer; i++) {
      attempts++;
      try {
        const result = await stripe.setSubscriptionItemQuantity({ subscriptionItemId: row.stripeSubscriptionItemId, quantity: row.quantity, idempotencyKey: row.idempotencyKey });
        answer = {
          patch: { status: 'succeeded', attempts, lastError: null, stripeRequestId: result.requestId, stripeQuantity: result.quantity, reportedAt: rt.now() },
          outcome: { status: 'reported', quantity: result.quantity ?? row.quantity },
        };
      } catch (error) {
        if (!(error instanceof StripeCallError)) throw error;
        if (error.kind === 'rejected' || error.kind === 'duplicate') {
          rt.log.warn({ creatorId, quantityId: row.quantityId, error: error.message }, 'Stripe refused a subscription item quantity');
          answer = {
            patch: { status: 'failed', attempts, lastError: error.message, stripeRequestId: error.requestId },
            outcome: { status: 'failed', quantity: row.quantity, error: error.message },
          };
        } else {
          lastError = error.message;
          const wait = error.kind === 'rate_limited' ? (error.retryAfterMs ?? 1000) : Math.min(200 * 2 ** i, 5000);
          if (i + 1 >= MAX_ATTEMPTS_PER_CALL || wait > MAX_WAIT_MS || performance.now() - started + wait + rt.env.STRIPE_TIMEOUT_MS > SEND_BUDGET_MS) break;
          await sleep(wait);
        }
      }
    }
  } catch (error) {
    // A fault of ours: the row goes back to pending for the next run.
    await withCreator(rt.db, creatorId, async (tx) => {
      if (holdsClaim((await lockQuantity(tx, row.quantityId))?.sendingUntil, until)) await updateQuantity(tx, row.quantityId, { status: 'pending', sendingUntil: null });
    }).catch(() => undefined);
    throw error;
  }
  // Unanswered (timeouts, 5xx, 429s): pending, resent by the next run with the same key.
  answer ??= { patch: { status: 'pending', attempts, lastError }, outcome: { status: 'pending', quantity: row.quantity, error: lastError ?? undefined } };
  const { patch, outcome } = answer;
  return withCreator(rt.db, creatorId, async (tx) => {
    if (!holdsClaim((await lockQuantity(tx, row.quantityId))?.sendingUntil, until)) {
      rt.log.warn({ creatorId, quantityId: row.quantityId }, 'Stripe answered a quantity set after its claim lapsed; left to the run that holds it');
      return { status: 'pending', quantity: row.quantity, error: 'Another run took this quantity set over.' } as QuantityOutcome;
    }
    await updateQuantity(tx, row.quantityId, { ...patch, sendingUntil: null });
    return outcome;
  });
}

export type LicensedStatusRow = {
  user_id: string;
  meter_id: string;
  event_name: string;
  subscription_item_id: string | null;
  /** The customer's current period. */
  period_start: string;
  period_end: string;
  /** The current period's usage (meter unit), null before its first event. */
  usage: string | null;
  /** Our quantity: that usage rounded up (null: no usage this period yet — the item keeps the last quantity). */
  quantity: number | null;
  /** The item's quantity in Stripe's answer to the last successful set (null: never set). */
  stripe_quantity: number | null;
  status: 'in_sync' | 'behind' | 'pending' | 'failed' | 'no_subscription_item';
  last_error: string | null;
  next_step: string | null;
  attempts: number;
  last_set_at: string | null;
};

function nextStepOf(status: LicensedStatusRow['status'], eventName: string, userId: string, error: string | null): string | null {
  switch (status) {
    case 'in_sync':
      return null;
    case 'behind':
      return 'Nothing: the next report (every report interval, or Report now) sets the subscription item’s quantity.';
    case 'pending':
      return 'Nothing unless it stays pending: it is sent again with the same idempotency key, so Stripe applies it once.';
    case 'no_subscription_item':
      return `Give this customer stripe_subscription_items.${eventName}: the id (si_…) of the item of its Stripe subscription whose licensed price bills this meter (PUT /api/usage/customers/${userId}), then Report now. Until then its usage of this meter is not billed.`;
    case 'failed':
      if (/no such subscription.?item|resource_missing/i.test(error ?? ''))
        return `Give this customer the stripe_subscription_items.${eventName} of an item that exists in the Stripe account reported to (PUT /api/usage/customers/${userId}), then Report now.`;
      if (/authentication|permission|api key/i.test(error ?? '')) return 'Save a Stripe key that may update subscriptions (or connect the account again) under Stripe connection, then Report now.';
      return 'Fix what Stripe says, then Report now: the next report sets the quantity again.';
  }
}

/**
 * Per licensed meter × customer it concerns: our quantity (current period usage rounded up),
 * the quantity Stripe holds as last set, the state, and what to do — including customers
 * who use the meter but have no subscription item for it.
 */
export async function getLicensedStatus(tx: Queryable, creatorId: string, meters: Meter[], now: Date): Promise<LicensedStatusRow[]> {
  const { licensed, customers } = await licensedCustomersOf(tx, creatorId, meters, now);
  if (licensed.length === 0) return [];
  const history = new Map((await listQuantityStatus(tx)).map((h) => [`${h.latest.meterId}|${h.latest.customerId}`, h]));
  const keys = customers.flatMap((c) => licensed.map((m) => ({ meterId: m.id, customerId: c.id, periodStart: periodAt(now, c.billingAnchor).start })));
  const counters = await readCounters(tx, keys);
  const rows: LicensedStatusRow[] = [];
  for (const c of customers) {
    const period = periodAt(now, c.billingAnchor);
    for (const meter of licensed) {
      const counter = counters.get(counterKey({ meterId: meter.id, customerId: c.id, periodStart: period.start }));
      const item = c.stripeSubscriptionItems[meter.eventName] ?? null;
      const h = history.get(`${meter.id}|${c.id}`);
      if (!item && !counter) continue;
      const usage = counter ? billedUsage(meter, counter.value) : null;
      const quantity = usage ? licensedQuantity(usage).toNumber() : null;
      const lastSet = h?.lastSet && h.lastSet.stripeSubscriptionItemId === item ? h.lastSet : null;
      const stripeQuantity = lastSet ? (lastSet.stripeQuantity ?? lastSet.quantity) : null;
      const latest = h?.latest && h.latest.stripeSubscriptionItemId === item ? h.latest : null;
      const status: LicensedStatusRow['status'] = !item
        ? 'no_subscription_item'
        : latest && (latest.status === 'pending' || latest.status === 'in_flight')
          ? 'pending'
          : latest?.status === 'failed'
            ? 'failed'
            : quantity === null || quantity === stripeQuantity
              ? 'in_sync'
              : 'behind';
      const lastError = status === 'failed' || status === 'pending' ? (latest?.lastError ?? null) : null;
      rows.push({
        user_id: c.userId,
        meter_id: meter.id,
        event_name: meter.eventName,
        subscription_item_id: item,
        period_start: period.start.toISOString(),
        period_end: period.end.toISOString(),
        usage: usage ? toWire(usage) : null,
        quantity,
        stripe_quantity: stripeQuantity,
        status,
        last_error: lastError,
        next_step: nextStepOf(status, meter.eventName, c.userId, lastError),
        attempts: latest?.attempts ?? 0,
        last_set_at: lastSet?.reportedAt?.toISOString() ?? null,
      });
    }
  }
  return rows;
}

/** The `licensed` part of a reconciliation's answer (ZReconcileResult). */
export type LicensedReconcileSummary = NonNullable<z.infer<typeof ZReconcileResult>['licensed']>;

/**
 * The reconciliation of licensed meters: Stripe's quantity of each item a quantity was set on
 * (the last set that succeeded) is read back. A quantity changed in Stripe since (by hand, by
 * another integration) is drift: the item is set again to the quantity of the current
 * period's usage at once (a new ledger row, as a report writes). A period without usage yet
 * sets nothing, as in a report: the item keeps what Stripe holds until its first event.
 */
export async function reconcileLicensedQuantities(rt: Runtime, creatorId: string, stripe: StripeBilling, items: Item[], stripeAccountId: string | null): Promise<LicensedReconcileSummary> {
  const summary: LicensedReconcileSummary = { items: 0, in_sync: 0, drifting: 0, resolved: 0, errors: 0 };
  for (const item of items) {
    const last = await withCreator(rt.db, creatorId, (tx) => findLastSetQuantity(tx, item.meter.id, item.customer.id, item.subscriptionItemId, stripeAccountId));
    if (!last) continue;
    summary.items++;
    let holds: number | null;
    try {
      holds = await stripe.subscriptionItemQuantity(item.subscriptionItemId);
    } catch (error) {
      if (!(error instanceof StripeCallError)) throw error;
      summary.errors++;
      rt.log.warn({ creatorId, subscriptionItemId: item.subscriptionItemId, error: error.message }, 'could not read a subscription item quantity back from Stripe');
      continue;
    }
    const set = last.stripeQuantity ?? last.quantity;
    if ((holds ?? 0) === set) {
      summary.in_sync++;
      continue;
    }
    summary.drifting++;
    rt.log.warn({ creatorId, subscriptionItemId: item.subscriptionItemId, set, holds }, 'a licensed subscription item quantity was changed in Stripe');
    const outcome = await setLicensedQuantity(rt, creatorId, stripe, item, stripeAccountId, { stripeHolds: holds ?? 0 });
    if (outcome.status === 'reported') summary.resolved++;
  }
  return summary;
}
