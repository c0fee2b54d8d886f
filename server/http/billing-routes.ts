import { ZBillingStatus, ZBillingSyncResult, ZReconcileResult, ZStripeSettings, ZUpdateStripeSettingsInput } from '../schemas/billing.js';
import { ZMeter } from '../schemas/meters.js';
import type { RestRoute } from './rest.js';
import { parseInput, ZIdParam } from './validation.js';

export const BILLING_ROUTES: RestRoute[] = [
  {
    method: 'GET',
    path: '/api/usage/settings/stripe',
    operationId: 'getStripeSettings',
    summary: 'How usage reaches Stripe (the secret key is never returned)',
    tag: 'Billing',
    scope: 'admin',
    responses: { 200: { description: 'Stripe settings', schema: ZStripeSettings } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.billing.stripeSettings() }),
  },
  {
    method: 'PUT',
    path: '/api/usage/settings/stripe',
    operationId: 'updateStripeSettings',
    summary: 'Set a Stripe secret key (write-only, encrypted at rest) or a Connect account id, and the report interval',
    tag: 'Billing',
    scope: 'admin',
    body: ZUpdateStripeSettingsInput,
    responses: { 200: { description: 'Stripe settings after the change', schema: ZStripeSettings } },
    handle: async ({ caller, body }) => ({ status: 200, body: await caller.billing.updateStripeSettings(parseInput(ZUpdateStripeSettingsInput, body)) }),
  },
  {
    method: 'POST',
    path: '/api/usage/billing/sync',
    operationId: 'syncBilling',
    summary: 'Report all unreported usage to Stripe now; answers when done',
    tag: 'Billing',
    scope: 'admin',
    responses: { 200: { description: 'Customer × meter × period pairs by outcome', schema: ZBillingSyncResult }, 409: { description: 'Stripe is not configured' } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.billing.sync() }),
  },
  {
    method: 'POST',
    path: '/api/usage/billing/reconcile',
    operationId: 'reconcileBilling',
    summary: 'Compare Stripe’s meter event summaries with the ledger now; settle reports of unknown outcome; record drift',
    tag: 'Billing',
    scope: 'admin',
    responses: { 200: { description: 'Customer × meter × period pairs by result', schema: ZReconcileResult }, 409: { description: 'Stripe is not configured' } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.billing.reconcile() }),
  },
  {
    method: 'GET',
    path: '/api/usage/billing/status',
    operationId: 'getBillingStatus',
    summary: 'Per customer × meter × period: our quantity, the quantity reported, Stripe’s at the last reconciliation, a status',
    tag: 'Billing',
    scope: 'read',
    responses: { 200: { description: 'Billing status', schema: ZBillingStatus } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.billing.status() }),
  },
  {
    method: 'POST',
    path: '/api/usage/meters/:id/stripe-meter',
    operationId: 'linkMeterToStripe',
    summary: 'Create (or find) the Stripe Billing Meter for this meter — formula sum — and link them',
    tag: 'Billing',
    scope: 'admin',
    responses: {
      200: { description: 'The meter, now linked (stripe_meter_event_name set)', schema: ZMeter },
      409: { description: 'Stripe is not configured, or the meter is archived' },
      502: { description: 'Stripe refused' },
    },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.billing.linkMeter(parseInput(ZIdParam, params)) }),
  },
];
