import { AppError } from '../server/errors.js';
import { queueBillingReconciliations, queueDueBillingReports, reconcileBilling, reportUsageToStripe } from '../server/services/billing.js';
import { defineHandler } from './handler.js';

/** null when the creator removed their Stripe key or account after the job was queued: nothing to do, not a failure to retry. */
const unlessUnconfigured = <T>(work: Promise<T>): Promise<T | null> =>
  work.catch((error: unknown) => {
    if (error instanceof AppError && error.code === 'stripe_not_configured') return null;
    throw error;
  });

export const reportBillingHandler = defineHandler('billing.report', async (rt, payload) => {
  const summary = await unlessUnconfigured(reportUsageToStripe(rt, payload.creatorId));
  if (!summary) return rt.log.info({ creatorId: payload.creatorId }, 'billing report skipped: Stripe is no longer configured');
  rt.log.info({ creatorId: payload.creatorId, ...summary }, 'billing report');
  // Rows left pending (Stripe down, rate limited): the job's retry sends them again.
  if (summary.pending > 0) throw new Error(`${summary.pending} Stripe report(s) still pending`);
});

export const scheduleBillingHandler = defineHandler('billing.schedule', async (rt) => {
  await queueDueBillingReports(rt);
});

export const reconcileBillingHandler = defineHandler('billing.reconcile', async (rt, payload) => {
  const summary = await unlessUnconfigured(reconcileBilling(rt, payload.creatorId));
  if (!summary) return rt.log.info({ creatorId: payload.creatorId }, 'billing reconciliation skipped: Stripe is no longer configured');
  rt.log.info({ creatorId: payload.creatorId, ...summary }, 'billing reconciliation');
});

export const reconcileAllBillingHandler = defineHandler('billing.reconcile-all', async (rt) => {
  await queueBillingReconciliations(rt);
});
