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
import { ZMeter } from '../schemas/meters.js';
import { ZWarnings } from '../schemas/common.js';
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
    summary: 'Set a Stripe secret key (write-only, encrypted at rest; it replaces a Connect account), the report interval, the invoice grace, the webhook secret',
    tag: 'Billing',
    scope: 'admin',
    body: ZUpdateStripeSettingsInput,
    responses: {
      200: {
        description:
          'Stripe settings after the change; a new secret_key is checked with Stripe first (one read of Billing meters): `warnings` when Stripe could not be reached to check it, or refused to list meters with it',
        schema: ZStripeSettings.extend({ warnings: ZWarnings.optional() }),
      },
      409: { description: 'In production (NODE_ENV=production) without STRIPE_KEYS_ENCRYPTION_KEY, storing a secret key or webhook secret is refused (encryption-key-missing)' },
      422: {
        description:
          'A field is invalid; a secret_key Stripe does not accept (401) is refused and nothing is saved; connect_account_id is refused (a Connect account comes from Stripe’s authorization: POST …/stripe/connect)',
      },
    },
    handle: async ({ caller, body }) => ({ status: 200, body: await caller.billing.updateStripeSettings(parseInput(ZUpdateStripeSettingsInput, body)) }),
  },
  {
    method: 'POST',
    path: '/api/usage/settings/stripe/connect',
    operationId: 'startStripeConnect',
    summary: 'Start connecting a Stripe account (Connect OAuth): Stripe’s page where its owner approves this platform',
    tag: 'Billing',
    scope: 'admin',
    body: ZStartStripeConnectInput,
    responses: {
      201: { description: 'Open authorize_url in the account owner’s browser; Stripe sends it to redirect_uri with code and state', schema: ZStripeConnectStart },
      409: { description: 'The server has no platform key or Connect client id (stripe-connect-unavailable)' },
    },
    handle: async ({ caller, body }) => ({ status: 201, body: await caller.billing.startConnect(parseInput(ZStartStripeConnectInput, body)) }),
  },
  {
    method: 'POST',
    path: '/api/usage/settings/stripe/connect/complete',
    operationId: 'completeStripeConnect',
    summary: 'Complete it with the code and state of Stripe’s redirect: the approved account is connected',
    tag: 'Billing',
    scope: 'admin',
    body: ZCompleteStripeConnectInput,
    responses: {
      200: { description: 'Stripe settings, the account connected', schema: ZStripeSettings },
      409: { description: 'The account is connected to another creator (stripe-account-taken)' },
      422: { description: 'The state is not this creator’s, used or expired; or Stripe refused the code' },
    },
    handle: async ({ caller, body }) => ({ status: 200, body: await caller.billing.completeConnect(parseInput(ZCompleteStripeConnectInput, body)) }),
  },
  {
    method: 'POST',
    path: '/api/usage/billing/sync',
    operationId: 'syncBilling',
    summary: 'Report all unreported usage to Stripe now; answers when done',
    tag: 'Billing',
    scope: 'admin',
    responses: { 200: { description: 'Customer × meter × period pairs by outcome', schema: ZBillingSyncResult }, 409: { description: 'Stripe is not configured (stripe-not-configured), or a Connect account without the server’s platform key (stripe-platform-key-missing)' } },
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
    summary: 'Per customer × meter × period: our quantity, the quantity reported, Stripe’s at the last reconciliation, a status; `licensed`: per customer × licensed meter, our quantity and the subscription item quantity set in Stripe',
    tag: 'Billing',
    scope: 'read',
    responses: { 200: { description: 'Billing status', schema: ZBillingStatus } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.billing.status() }),
  },
  {
    method: 'POST',
    path: '/api/usage/meters/:id/stripe-meter',
    operationId: 'linkMeterToStripe',
    summary: 'Create (or find) the Stripe Billing Meter for this meter — formula sum — and link them (a licensed meter is refused, 422 naming stripe_meter_event_name: it is billed by subscription item quantities)',
    tag: 'Billing',
    scope: 'admin',
    responses: {
      200: { description: 'The meter, now linked (stripe_meter_event_name set)', schema: ZMeter },
      409: {
        description:
          'Stripe is not configured, a Connect account without the server’s platform key (stripe-platform-key-missing), the meter is archived, or the Stripe meter of that event name would not bill our reports as used (stripe-meter-incompatible: its formula is not sum, its payload keys are not stripe_customer_id and value, or it has an event_time_window; `mismatches` names what differs)',
      },
      502: { description: 'Stripe refused' },
    },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.billing.linkMeter(parseInput(ZIdParam, params)) }),
  },
];
