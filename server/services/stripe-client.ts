import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { z } from 'zod';
import type { TEnv } from '../env.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * The only place that constructs a Stripe client (ESLint forbids `stripe` elsewhere in
 * services). It also owns the creator's key at rest (AES-256-GCM) and translates the
 * SDK's errors into the few outcomes billing decides on, so no other module sees a
 * Stripe type or a secret.
 */

/** Whose Stripe account a call acts on: the creator's own key, or a Connect account with the platform key. */
export type StripeCredentials = { kind: 'secret_key'; secretKey: string } | { kind: 'connect'; accountId: string };

/** What billing needs to know about a failed call. */
export type StripeFailureKind =
  /** 429: wait retryAfterMs, then the same call again. */
  | 'rate_limited'
  /** Timeout, connection reset or 5xx: the call may or may not have been applied; resend the same identifier. */
  | 'transient'
  /** The meter event identifier was already recorded: the earlier attempt was applied. */
  | 'duplicate'
  /** Anything else Stripe refused (unknown customer or meter, timestamp out of window, bad key…): no retry helps. */
  | 'rejected';

export class StripeCallError extends Error {
  constructor(
    readonly kind: StripeFailureKind,
    message: string,
    readonly requestId: string | null,
    readonly retryAfterMs: number | null = null,
    /** Stripe's HTTP status, when it answered. */
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'StripeCallError';
  }
}

export type MeterEventInput = { eventName: string; stripeCustomerId: string; value: string; identifier: string; timestamp: Date };

export type StripeBilling = {
  /** Records one Billing Meter Event; resolves with Stripe's request id. */
  createMeterEvent: (input: MeterEventInput) => Promise<{ requestId: string | null }>;
  /** Stripe's aggregated value for a customer on a meter over [start, end). */
  meterTotal: (input: { meterId: string; stripeCustomerId: string; start: Date; end: Date }) => Promise<string>;
  /** The active meter of an event name, or null. */
  findMeterId: (eventName: string) => Promise<string | null>;
  /** The active meter of an event name and how it differs from what our reports need (empty: it bills them right), or null. */
  findMeter: (eventName: string) => Promise<StripeMeterFound | null>;
  /**
   * Finds the active meter of an event name, or creates it (formula sum, our payload keys).
   * A meter found that would not bill our reports right is not used: `mismatches` says why.
   */
  ensureMeter: (input: { eventName: string; displayName: string }) => Promise<StripeMeterFound>;
  /**
   * Sets a subscription item's quantity (a licensed price: billed by quantity, not meter
   * events), prorated (`create_prorations`), under our idempotency key: a resend with the
   * same key and quantity is answered from Stripe's stored result. Resolves with the
   * item's quantity in Stripe's answer.
   */
  setSubscriptionItemQuantity: (input: { subscriptionItemId: string; quantity: number; idempotencyKey: string }) => Promise<{ quantity: number | null; requestId: string | null }>;
  /** A subscription item's quantity as Stripe holds it now. */
  subscriptionItemQuantity: (subscriptionItemId: string) => Promise<number | null>;
  /** Whether Stripe takes the credentials: one page of Billing meters (what linking reads), nothing written. */
  checkCredentials: () => Promise<void>;
};

/** A Stripe Billing Meter, and what in it would bill our reports wrongly (empty when nothing). */
export type StripeMeterFound = { id: string; mismatches: string[] };

/**
 * What a Stripe meter must be to bill our reports as the usage endpoint shows them: each
 * report is a delta of the period total (so `sum`; `last` would bill the last delta, `count`
 * the number of reports), sent with `payload[stripe_customer_id]` and `payload[value]`, and
 * billed over the whole subscription period (no `event_time_window` splitting it).
 */
function meterMismatches(meter: Stripe.Billing.Meter): string[] {
  const mismatches: string[] = [];
  const formula = meter.default_aggregation?.formula;
  if (formula !== 'sum') mismatches.push(`default_aggregation.formula is "${formula}", not "sum" (our reports are deltas of the period total)`);
  const customerKey = meter.customer_mapping?.event_payload_key;
  if (customerKey !== 'stripe_customer_id') mismatches.push(`customer_mapping.event_payload_key is "${customerKey}", not "stripe_customer_id"`);
  const valueKey = meter.value_settings?.event_payload_key;
  if (valueKey !== 'value') mismatches.push(`value_settings.event_payload_key is "${valueKey}", not "value"`);
  if (meter.event_time_window) mismatches.push(`event_time_window is "${meter.event_time_window}" (none expected)`);
  return mismatches;
}

/** Stripe refuses more than 100 per page; a long-lived account can have more meters. */
const METER_PAGES_LIMIT = 10_000;

const DEV_KEY_SEED = 'staryer-usage development key for Stripe secrets — set STRIPE_KEYS_ENCRYPTION_KEY';
let warnedDevKey = false;

function encryptionKey(env: TEnv, log?: Logger): Buffer {
  if (env.STRIPE_KEYS_ENCRYPTION_KEY) return Buffer.from(env.STRIPE_KEYS_ENCRYPTION_KEY, 'base64');
  if (!warnedDevKey && env.NODE_ENV !== 'test') {
    warnedDevKey = true;
    log?.warn('STRIPE_KEYS_ENCRYPTION_KEY is not set: creators’ Stripe keys are encrypted with a fixed development key. Set it in production.');
  }
  return createHash('sha256').update(DEV_KEY_SEED).digest();
}

/**
 * `v1.<iv>.<tag>.<ciphertext>` (base64url), AES-256-GCM. In production a secret is not
 * stored under the development key, which is in the source: anyone with a copy of the
 * database could read it.
 */
export function encryptStripeSecret(env: TEnv, plain: string, log?: Logger): string {
  if (env.NODE_ENV === 'production' && !env.STRIPE_KEYS_ENCRYPTION_KEY) {
    throw new AppError('conflict', {
      code: 'encryption_key_missing',
      detail: 'This server stores no Stripe secrets until its operator sets STRIPE_KEYS_ENCRYPTION_KEY (README, "Configuration"): without it they would be encrypted with a key anyone can read.',
    });
  }
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(env, log), iv);
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

export function decryptStripeSecret(env: TEnv, stored: string, log?: Logger): string {
  const [version, iv, tag, ciphertext] = stored.split('.');
  if (version !== 'v1' || !iv || !tag || !ciphertext) throw new Error('Unreadable stored Stripe key');
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey(env, log), Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
}

function clientConfig(env: TEnv): Stripe.StripeConfig {
  const config: Stripe.StripeConfig = {
    // Retries are billing's: it resends with the same meter event identifier and honours Retry-After.
    maxNetworkRetries: 0,
    timeout: env.STRIPE_TIMEOUT_MS,
    telemetry: false,
    appInfo: { name: 'staryer-usage' },
  };
  if (env.STRIPE_API_BASE) {
    const base = new URL(env.STRIPE_API_BASE);
    config.host = base.hostname;
    config.port = base.port || (base.protocol === 'https:' ? 443 : 80);
    config.protocol = base.protocol === 'http:' ? 'http' : 'https';
  }
  return config;
}

function translate(error: unknown): StripeCallError {
  if (!(error instanceof Stripe.errors.StripeError)) return new StripeCallError('transient', (error as Error)?.message ?? 'Stripe call failed', null);
  const requestId = error.requestId ?? null;
  const status = error.statusCode ?? 0;
  if (status === 429 || error.code === 'rate_limit') {
    const header = error.headers?.['retry-after'];
    const seconds = header === undefined ? NaN : Number(header);
    return new StripeCallError('rate_limited', error.message, requestId, Number.isFinite(seconds) ? seconds * 1000 : null);
  }
  if (error instanceof Stripe.errors.StripeConnectionError || status >= 500 || status === 0 || status === 409) {
    return new StripeCallError('transient', error.message, requestId);
  }
  if (status === 400 && error.param === 'identifier' && (error.code === 'resource_already_exists' || /already exists/i.test(error.message))) {
    return new StripeCallError('duplicate', error.message, requestId);
  }
  return new StripeCallError('rejected', `${error.type}${error.code ? ` ${error.code}` : ''}: ${error.message}`, requestId, null, status || null);
}

/** A Stripe client acting for one creator, with the platform key for Connect accounts. */
export function createStripeBilling(env: TEnv, credentials: StripeCredentials): StripeBilling {
  const key = credentials.kind === 'secret_key' ? credentials.secretKey : env.STRIPE_SECRET_KEY;
  // The operator's setting, not Stripe's answer nor the caller's input: a conflict to say (409), never a 500.
  if (!key) {
    throw new AppError('conflict', {
      code: 'stripe_platform_key_missing',
      title: 'Stripe platform key missing',
      detail: 'This creator reports through a Stripe Connect account, which needs the server’s platform key (STRIPE_SECRET_KEY); the operator has not set it.',
    });
  }
  const stripe = new Stripe(key, clientConfig(env));
  const options: Stripe.RequestOptions = credentials.kind === 'connect' ? { stripeAccount: credentials.accountId } : {};
  // Every page: the meter may be past the first 100 (has_more).
  const activeMeter = async (eventName: string) =>
    (await stripe.billing.meters.list({ status: 'active', limit: 100 }, options).autoPagingToArray({ limit: METER_PAGES_LIMIT })).find((m) => m.event_name === eventName) ?? null;
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw translate(error);
    }
  };
  return {
    createMeterEvent: (input) =>
      call(async () => {
        const event = await stripe.billing.meterEvents.create(
          {
            event_name: input.eventName,
            identifier: input.identifier,
            timestamp: Math.floor(input.timestamp.getTime() / 1000),
            payload: { stripe_customer_id: input.stripeCustomerId, value: input.value },
          },
          options,
        );
        return { requestId: event.lastResponse?.requestId ?? null };
      }),
    meterTotal: (input) =>
      call(async () => {
        const summaries = await stripe.billing.meters.listEventSummaries(
          input.meterId,
          { customer: input.stripeCustomerId, start_time: Math.floor(input.start.getTime() / 1000), end_time: Math.floor(input.end.getTime() / 1000) },
          options,
        );
        return String(summaries.data.reduce((sum, s) => sum + s.aggregated_value, 0));
      }),
    findMeterId: (eventName) => call(async () => (await activeMeter(eventName))?.id ?? null),
    findMeter: (eventName) =>
      call(async () => {
        const meter = await activeMeter(eventName);
        return meter ? { id: meter.id, mismatches: meterMismatches(meter) } : null;
      }),
    setSubscriptionItemQuantity: (input) =>
      call(async () => {
        const item = await stripe.subscriptionItems.update(
          input.subscriptionItemId,
          { quantity: input.quantity, proration_behavior: 'create_prorations' },
          { ...options, idempotencyKey: input.idempotencyKey },
        );
        return { quantity: item.quantity ?? null, requestId: item.lastResponse?.requestId ?? null };
      }),
    subscriptionItemQuantity: (subscriptionItemId) => call(async () => (await stripe.subscriptionItems.retrieve(subscriptionItemId, {}, options)).quantity ?? null),
    checkCredentials: () =>
      call(async () => {
        await stripe.billing.meters.list({ limit: 1 }, options);
      }),
    ensureMeter: (input) =>
      call(async () => {
        const existing = await activeMeter(input.eventName);
        if (existing) return { id: existing.id, mismatches: meterMismatches(existing) };
        const meter = await stripe.billing.meters.create(
          {
            display_name: input.displayName,
            event_name: input.eventName,
            default_aggregation: { formula: 'sum' },
            customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
            value_settings: { event_payload_key: 'value' },
          },
          options,
        );
        return { id: meter.id, mismatches: [] };
      }),
  };
}

/**
 * Connect (Stripe's OAuth, "Standard" accounts): the page on connect.stripe.com where the
 * owner of a Stripe account approves this platform; Stripe then sends their browser to
 * `redirectUri` with a one-time `code` and our `state`.
 */
export function connectAuthorizeUrl(env: TEnv, input: { state: string; redirectUri: string }): string {
  if (!env.STRIPE_SECRET_KEY || !env.STRIPE_CONNECT_CLIENT_ID) throw new Error('Connect needs STRIPE_SECRET_KEY and STRIPE_CONNECT_CLIENT_ID');
  const stripe = new Stripe(env.STRIPE_SECRET_KEY, clientConfig(env));
  const url = stripe.oauth.authorizeUrl({ response_type: 'code', client_id: env.STRIPE_CONNECT_CLIENT_ID, scope: 'read_write', state: input.state, redirect_uri: input.redirectUri });
  // With STRIPE_API_BASE (a local Stripe) the SDK keeps https and drops the port: point at that server.
  if (!env.STRIPE_API_BASE) return url;
  const local = new URL(url);
  const base = new URL(env.STRIPE_API_BASE);
  local.protocol = base.protocol;
  local.host = base.host;
  return local.toString();
}

/**
 * Exchanges the code of an approved authorization (once) for the account it approved,
 * with the platform's key. A code that is unknown, used or expired is `rejected`.
 */
export async function exchangeConnectCode(env: TEnv, code: string): Promise<{ accountId: string }> {
  if (!env.STRIPE_SECRET_KEY) throw new StripeCallError('rejected', 'Connect needs the platform key STRIPE_SECRET_KEY, which is not set.', null);
  const stripe = new Stripe(env.STRIPE_SECRET_KEY, clientConfig(env));
  try {
    const token = await stripe.oauth.token({ grant_type: 'authorization_code', code });
    if (!token.stripe_user_id) throw new StripeCallError('rejected', 'Stripe answered without the connected account (stripe_user_id).', null);
    return { accountId: token.stripe_user_id };
  } catch (error) {
    // OAuth errors (invalid_grant: unknown, used or expired code) are 4xx: `rejected`.
    throw error instanceof StripeCallError ? error : translate(error);
  }
}

/** What billing reads from a verified subscription webhook. */
/** A Unix time Stripe could send: a whole number of seconds between 1970 and 9999. */
const ZUnixTime = z.number().int().min(0).max(253_402_300_799);
const ZInterval = z.object({ interval: z.string(), interval_count: z.number().int().positive().nullish() }).nullish();
const ZEvent = z.object({ id: z.string().min(1), type: z.string().min(1), created: ZUnixTime });
/** The fields of a subscription event verifyStripeWebhook reads, as Stripe's API reference types them. */
const ZSubscriptionEvent = ZEvent.extend({
  data: z.object({
    object: z.object({
      id: z.string().min(1),
      customer: z.union([z.string().min(1), z.object({ id: z.string().min(1) })]),
      status: z.string(),
      billing_cycle_anchor: ZUnixTime.nullish(),
      current_period_start: ZUnixTime.nullish(),
      current_period_end: ZUnixTime.nullish(),
      items: z
        .object({
          data: z.array(
            z.object({
              id: z.string().nullish(),
              current_period_start: ZUnixTime.nullish(),
              current_period_end: ZUnixTime.nullish(),
              price: z.object({ recurring: ZInterval }).nullish(),
              plan: ZInterval,
            }),
          ),
        })
        .nullish(),
    }),
  }),
});

export type SubscriptionEvent = {
  id: string;
  type: string;
  created: Date;
  subscription: {
    id: string;
    customer: string;
    status: string;
    billingCycleAnchor: Date | null;
    periodStart: Date | null;
    periodEnd: Date | null;
    itemIds: string[];
    /** The billing interval of its items' prices (`month` × 1 for monthly), when the event carries it. */
    interval: { interval: string; count: number } | null;
  } | null;
};

/**
 * Verifies a Stripe webhook with the SDK (HMAC over the raw body, 5-minute tolerance):
 * null when the signature, the timestamp or the body does not hold.
 */
export function verifyStripeWebhook(rawBody: Buffer, signature: string, secret: string): SubscriptionEvent | null {
  let event: Stripe.Event;
  try {
    event = Stripe.webhooks.constructEvent(rawBody, signature, secret, 300);
  } catch {
    return null;
  }
  // Signed is not well formed: the fields read below are checked (a `customer` of 123 reached a
  // query as undefined and answered 500). Stripe sends none such; a 400 names what is wrong.
  const parsed = (event.type?.startsWith?.('customer.subscription.') ? ZSubscriptionEvent : ZEvent).safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError('bad_request', {
      code: 'malformed_stripe_event',
      detail: `The Stripe event's ${issue.path.join('.') || 'body'} is not what a Stripe event holds (${issue.message}); nothing was recorded.`,
    });
  }
  const created = new Date(event.created * 1000);
  if (!event.type.startsWith('customer.subscription.')) return { id: event.id, type: event.type, created, subscription: null };
  const sub = event.data.object as Stripe.Subscription & { current_period_start?: number; current_period_end?: number };
  const item = sub.items?.data?.[0];
  // Current API versions carry the period on the items; older ones on the subscription.
  const start = item?.current_period_start ?? sub.current_period_start ?? null;
  const end = item?.current_period_end ?? sub.current_period_end ?? null;
  // Every item of a subscription bills on one interval: its price's recurring one (the plan's on older API versions).
  const recurring = (sub.items?.data ?? []).map((i) => i.price?.recurring ?? i.plan ?? null).find((r) => r?.interval);
  return {
    id: event.id,
    type: event.type,
    created,
    subscription: {
      id: sub.id,
      customer: typeof sub.customer === 'string' ? sub.customer : sub.customer.id,
      status: sub.status,
      billingCycleAnchor: sub.billing_cycle_anchor ? new Date(sub.billing_cycle_anchor * 1000) : null,
      periodStart: start ? new Date(start * 1000) : null,
      periodEnd: end ? new Date(end * 1000) : null,
      itemIds: (sub.items?.data ?? []).map((i) => i.id).filter((id): id is string => typeof id === 'string'),
      interval: recurring ? { interval: recurring.interval, count: recurring.interval_count ?? 1 } : null,
    },
  };
}
