import {
  ZBillingStatus,
  ZBillingSyncResult,
  ZCompleteStripeConnectInput,
  ZReconcileResult,
  ZStartStripeConnectInput,
  ZStripeConnectStart,
  ZStripeSettings,
  ZUpdateStripeSettingsInput,
} from '../schemas/billing.js';
import { ZMeter, ZMeterIdInput, toApiMeter } from '../schemas/meters.js';
import { ZWarnings } from '../schemas/common.js';
import {
  completeStripeConnect,
  getBillingCustomerNotes,
  getBillingStatus,
  getLicensedBillingStatus,
  getStripeSettings,
  linkMeterToStripe,
  reconcileBilling,
  reportUsageToStripe,
  startStripeConnect,
  updateStripeSettings,
} from '../services/billing.js';
import { router, tenantProcedure } from '../trpc.js';

export const billingRouter = router({
  stripeSettings: tenantProcedure('admin')
    .output(ZStripeSettings)
    .query(({ ctx }) => getStripeSettings(ctx.rt, ctx.creatorId)),
  updateStripeSettings: tenantProcedure('admin')
    .input(ZUpdateStripeSettingsInput)
    .output(ZStripeSettings.extend({ warnings: ZWarnings.optional() }))
    .mutation(({ ctx, input }) => updateStripeSettings(ctx.rt, ctx.creatorId, input)),
  /** Connect OAuth: Stripe's authorize page for this creator (a one-time state inside). */
  startConnect: tenantProcedure('admin')
    .input(ZStartStripeConnectInput)
    .output(ZStripeConnectStart)
    .mutation(({ ctx, input }) => startStripeConnect(ctx.rt, ctx.creatorId, input)),
  /** Connect OAuth: the code and state of Stripe's redirect; connects the account its owner approved. */
  completeConnect: tenantProcedure('admin')
    .input(ZCompleteStripeConnectInput)
    .output(ZStripeSettings)
    .mutation(({ ctx, input }) => completeStripeConnect(ctx.rt, ctx.creatorId, input)),
  sync: tenantProcedure('admin')
    .output(ZBillingSyncResult)
    .mutation(({ ctx }) => reportUsageToStripe(ctx.rt, ctx.creatorId)),
  reconcile: tenantProcedure('admin')
    .output(ZReconcileResult)
    .mutation(({ ctx }) => reconcileBilling(ctx.rt, ctx.creatorId)),
  /** Creates (or finds) the Stripe Billing Meter for one of our meters and links them. */
  linkMeter: tenantProcedure('admin')
    .input(ZMeterIdInput)
    .output(ZMeter)
    .mutation(async ({ ctx, input }) => toApiMeter(await linkMeterToStripe(ctx.rt, ctx.creatorId, input.id))),
  status: tenantProcedure('read')
    .output(ZBillingStatus)
    .query(async ({ ctx }) => ({ rows: await getBillingStatus(ctx.rt, ctx.creatorId), customer_notes: await getBillingCustomerNotes(ctx.rt, ctx.creatorId),
      licensed: await getLicensedBillingStatus(ctx.rt, ctx.creatorId),
    })),
});
