import { queueBillingReconciliations, queueDueBillingReports, reconcileBilling, reportUsageToStripe } from '../server/services/billing.js';
import { defineHandler } from './handler.js';

export const reportBillingHandler = defineHandler('billing.report', async (rt, payload) => {
  const summary = await reportUsageToStripe(rt, payload.creatorId);
  rt.log.info({ creatorId: payload.creatorId, ...summary }, 'billing report');
  // Rows left pending (Stripe down, rate limited): the job's retry sends them again.
  if (summary.pending > 0) throw new Error(`${summary.pending} Stripe report(s) still pending`);
});

export const scheduleBillingHandler = defineHandler('billing.schedule', async (rt) => {
  await queueDueBillingReports(rt);
});

export const reconcileBillingHandler = defineHandler('billing.reconcile', async (rt, payload) => {
  const summary = await reconcileBilling(rt, payload.creatorId);
  rt.log.info({ creatorId: payload.creatorId, ...summary }, 'billing reconciliation');
});

export const reconcileAllBillingHandler = defineHandler('billing.reconcile-all', async (rt) => {
  await queueBillingReconciliations(rt);
});
