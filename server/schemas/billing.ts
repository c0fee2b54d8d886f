import { z } from 'zod';

export const ZUpdateStripeSettingsInput = z
  .object({
    /** The creator's Stripe secret or restricted key: stored encrypted, never returned. */
    secret_key: z
      .string()
      .regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]{8,}$/, 'must be a Stripe secret (sk_…) or restricted (rk_…) key')
      .optional(),
    /** Not settable: a Connect account comes from Stripe's authorization (refused with a pointer there). */
    connect_account_id: z
      .string()
      .describe('Refused (422): a Stripe account is connected only through Stripe’s authorization (POST /api/usage/settings/stripe/connect), so that no one can name an account they do not own.')
      .optional(),
    report_interval_minutes: z
      .number({ error: 'must be a whole number of minutes from 1 to 1440' })
      .int('must be a whole number of minutes from 1 to 1440')
      .min(1, 'must be a whole number of minutes from 1 to 1440')
      .max(1440, 'must be a whole number of minutes from 1 to 1440 (a day)')
      .optional(),
    /** The invoice finalization grace set in Stripe (its default 1 h; Stripe allows at most 72). */
    invoice_grace_hours: z.number({ error: 'must be a whole number of hours' }).int('must be a whole number of hours').min(0, 'must be ≥ 0').max(72, 'must be at most 72 (Stripe’s limit)').optional(),
    /** Signing secret of the Stripe webhook endpoint pointed at `webhook_path` (write-only). */
    webhook_secret: z.string().regex(/^whsec_[A-Za-z0-9+/=_-]{8,}$/, 'must be a Stripe webhook signing secret (whsec_…)').optional(),
  })
  .strict();
export type TUpdateStripeSettingsInput = z.infer<typeof ZUpdateStripeSettingsInput>;

export const ZStripeSettings = z.object({
  configured: z.enum(['secret_key', 'connect']).nullable(),
  connect_account_id: z.string().nullable(),
  report_interval_minutes: z.number().int(),
  /** Stripe's invoice finalization grace as the creator set it there: usage reported later than the period's end + this is not on its invoice. */
  invoice_grace_hours: z.number().int(),
  last_report_at: z.iso.datetime().nullable(),
  webhook_configured: z.boolean(),
  /** Where Stripe sends customer.subscription.* events for this creator. */
  webhook_path: z.string(),
});

export const ZBillingSyncResult = z.object({
  pairs: z.number().int(),
  reported: z.number().int(),
  up_to_date: z.number().int(),
  pending: z.number().int(),
  failed: z.number().int(),
  unknown: z.number().int(),
});

export const ZBillingStatusRow = z.object({
  user_id: z.string(),
  meter_id: z.uuid(),
  event_name: z.string(),
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime(),
  /** Our period total now (meter unit). */
  quantity: z.string(),
  /** What Stripe has accepted from us for the period. */
  reported_quantity: z.string(),
  /** Stripe's total at the last reconciliation (null: not reconciled yet). */
  stripe_quantity: z.string().nullable(),
  reconciled_at: z.iso.datetime().nullable(),
  /** What we had reported at the last reconciliation (null: not reconciled yet): `stripe_quantity` is compared with it, not with `reported_quantity` now. */
  reconciled_reported_quantity: z.string().nullable(),
  /** Stripe's total − what the ledger reported, at the last reconciliation. */
  drift: z.string().nullable(),
  /** in_sync · behind (usage not reported yet) · drifting (Stripe disagrees with the ledger) · pending · failed · unknown (reconcile). */
  status: z.enum(['in_sync', 'behind', 'drifting', 'pending', 'failed', 'unknown']),
  last_error: z.string().nullable(),
  /** What the creator can do about a row that is not in sync, in a sentence (null: nothing). */
  next_step: z.string().nullable(),
  attempts: z.number().int(),
  last_reported_at: z.iso.datetime().nullable(),
  /**
   * Reported after Stripe finalized the period's invoice (its end + invoice_grace_hours):
   * in Stripe's meter, not on that invoice — bill it by hand. "0" when none.
   */
  after_invoice_quantity: z.string(),
});
/** About a customer rather than a period: `unsupported_interval` — its Stripe subscription is not monthly, and periods here are (ADR 0013, amendment of 2026-11-27 on subscription intervals); `no_stripe_customer` — it has usage of a metered meter linked to Stripe this period and no stripe_customer_id, so no report sends it. */
export const ZBillingCustomerNote = z.object({
  user_id: z.string(),
  code: z.enum(['unsupported_interval', 'no_stripe_customer']),
  detail: z.string(),
});

/**
 * A licensed meter × customer (billing_model licensed: billed by a Stripe subscription item's
 * quantity, set by each report to the current period's usage rounded up; ADR 0013).
 */
export const ZLicensedStatusRow = z.object({
  user_id: z.string(),
  meter_id: z.uuid(),
  event_name: z.string(),
  /** The customer's stripe_subscription_items.<event_name> (null: none — see next_step). */
  subscription_item_id: z.string().nullable(),
  /** The customer's current period. */
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime(),
  /** Its usage in the meter's unit (null before the period's first event: the item keeps its last quantity). */
  usage: z.string().nullable(),
  /** Our quantity: that usage rounded up to a whole number. */
  quantity: z.number().int().nullable(),
  /** The item's quantity in Stripe's answer to the last successful set (null: never set). */
  stripe_quantity: z.number().int().nullable(),
  /** in_sync · behind (the next report sets it) · pending (sent again with the same idempotency key) · failed · no_subscription_item. */
  status: z.enum(['in_sync', 'behind', 'pending', 'failed', 'no_subscription_item']),
  last_error: z.string().nullable(),
  next_step: z.string().nullable(),
  attempts: z.number().int(),
  last_set_at: z.iso.datetime().nullable(),
});

export const ZBillingStatus = z.object({ rows: z.array(ZBillingStatusRow), customer_notes: z.array(ZBillingCustomerNote), licensed: z.array(ZLicensedStatusRow) });

export const ZReconcileResult = z.object({
  pairs: z.number().int(),
  in_sync: z.number().int(),
  drifting: z.number().int(),
  resolved: z.number().int(),
  errors: z.number().int(),
  /** Pairs where Stripe held less than the ledger and a compensating meter event was sent. */
  compensated: z.number().int(),
  /** Pairs where Stripe holds more than the ledger (not corrected: meter events cannot be negative). */
  over_reported: z.number().int(),
  /**
   * Licensed meters' subscription items, each read back from Stripe (present when any quantity
   * was set): in_sync, drifting (changed in Stripe since it was set), resolved (set again now).
   */
  licensed: z
    .object({ items: z.number().int(), in_sync: z.number().int(), drifting: z.number().int(), resolved: z.number().int(), errors: z.number().int() })
    .optional(),
});

/** Starts connecting a Stripe account: where Stripe sends the owner's browser back. */
export const ZStartStripeConnectInput = z
  .object({
    redirect_uri: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL registered as a redirect URI in the platform’s Connect settings' })
      .max(2000, 'must be at most 2000 characters'),
  })
  .strict();
export type TStartStripeConnectInput = z.infer<typeof ZStartStripeConnectInput>;

export const ZStripeConnectStart = z.object({
  /** Stripe's authorize page, with this authorization's one-time state; open it in the account owner's browser. */
  authorize_url: z.string(),
  expires_at: z.iso.datetime(),
});

/** What Stripe's redirect brings back: the one-time code and the state. */
export const ZCompleteStripeConnectInput = z
  .object({
    code: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').regex(/^[A-Za-z0-9_]+$/, 'must be the code from Stripe’s redirect'),
    state: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
  })
  .strict();
export type TCompleteStripeConnectInput = z.infer<typeof ZCompleteStripeConnectInput>;
