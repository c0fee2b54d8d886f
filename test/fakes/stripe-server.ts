import { createHash, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Decimal from 'decimal.js';

/**
 * A local Stripe that speaks the subset of the REST API we use, validating requests the
 * way Stripe does (form-encoded bodies, Bearer secret keys, idempotency keys replayed,
 * meter event identifiers unique per account for 24 h, timestamps inside Stripe's window,
 * one concurrent meter event per customer × meter), with faults injected on demand.
 * Driven through the real `stripe` SDK in tests, and runnable by hand:
 *
 *   tsx test/fakes/stripe-server.ts --port 12111
 *   curl -X POST localhost:12111/_fake/faults -d '{"kind":"500-after","probability":0.3}'
 *
 * Data is scoped per account: the `Stripe-Account` header (Connect) or else the secret key.
 */

export type FaultKind =
  /** Connection reset without an answer. */
  | 'down'
  /** 500 before anything is applied. */
  | '500-before'
  /** Applied, then 500 (the client cannot tell it was applied). */
  | '500-after'
  /** 429 rate_limit with Retry-After. */
  | '429'
  /** Applied, then answered only after delayMs (past the client's timeout). */
  | 'slow';

export type Fault = {
  kind: FaultKind;
  /** Chance per matching request (default 1). */
  probability?: number;
  /** How many requests it hits at most (default unlimited). */
  times?: number;
  retryAfterSeconds?: number;
  delayMs?: number;
  /** Only requests whose path starts with this (default all of /v1). */
  pathPrefix?: string;
};

export type StoredMeterEvent = {
  account: string;
  identifier: string;
  eventName: string;
  customer: string;
  value: string;
  timestamp: number;
  createdAt: number;
  stripeAccountHeader: string | null;
};

/** A subscription item quantity change Stripe applied (replays of an idempotency key are not changes). */
export type QuantityUpdate = { account: string; subscriptionItem: string; from: number; to: number; prorationBehavior: string | null; at: number };

export type RequestLog = {
  method: string;
  path: string;
  status: number;
  stripeAccount: string | null;
  idempotencyKey: string | null;
  authorization: string;
  /** A meter event's identifier (null for other calls). */
  identifier: string | null;
  /** Arrival, ms since the epoch (wall clock). */
  at: number;
  fault?: FaultKind;
};

type Account = {
  meters: Map<string, { id: string; event_name: string; display_name: string; status: 'active' | 'inactive'; created: number; default_aggregation: { formula: string }; customer_mapping: unknown; value_settings: unknown; event_time_window: string | null }>;
  customers: Map<string, Record<string, unknown>>;
  subscriptions: Map<string, Record<string, unknown>>;
  /** Subscription items by id (the same objects as in their subscription's items list). */
  subscriptionItems: Map<string, Record<string, unknown> & { quantity: number }>;
  identifiers: Map<string, number>;
  events: StoredMeterEvent[];
  idempotency: Map<string, { fingerprint: string; status: number; body: unknown }>;
};

export type FakeStripe = {
  url: string;
  port: number;
  host: string;
  /** Every meter event applied, oldest first. */
  events: StoredMeterEvent[];
  /** Every subscription item quantity update applied, oldest first. */
  quantityUpdates: QuantityUpdate[];
  requests: RequestLog[];
  /** Times a second meter event call for one customer × meter arrived while one was in flight. */
  concurrencyViolations: number;
  /** Largest number of meter event calls in flight at once for one customer × meter (should stay 1). */
  maxConcurrentPerKey: number;
  inject: (fault: Fault) => void;
  clearFaults: () => void;
  /** Time the fake judges timestamps against (default the wall clock). */
  setNow: (now: () => Date) => void;
  /** How long a meter event call holds its customer × meter slot (to make overlaps visible). */
  setProcessingDelay: (ms: number) => void;
  /** Sum of applied meter event values per account × event name × customer in [start, end). */
  total: (q: { account: string; eventName: string; customer: string; start?: Date; end?: Date }) => string;
  /**
   * Loses an applied meter event on Stripe's side (it leaves the totals and event
   * summaries) while its identifier stays taken, as Stripe keeps it for 24 h: resending it
   * answers "already exists", only a new identifier restores the quantity.
   */
  loseEvent: (q: { account: string; identifier: string }) => StoredMeterEvent;
  /** Identifiers applied more than once (must always be empty). */
  duplicateIdentifiers: () => string[];
  /** Rolls a key (its owner did, in Stripe's dashboard): from now on every call with it is refused 401 as Stripe refuses an expired key. */
  revokeKey: (key: string) => void;
  /**
   * Connect OAuth: the owner of `accountId` approves the platform on Stripe's authorize page;
   * returns the one-time code Stripe puts in the redirect (exchanged at POST /oauth/token with
   * the platform's secret key for `stripe_user_id`). Also `POST /_fake/connect/authorize {"account"}`.
   */
  authorizeConnect: (accountId: string) => string;
  close: () => Promise<void>;
};

class StripeError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const invalid = (message: string, param?: string, code = 'parameter_invalid') => new StripeError(400, 'invalid_request_error', message, code, param);
const missing = (param: string) => new StripeError(400, 'invalid_request_error', `Missing required param: ${param}.`, 'parameter_missing', param);

/** Parses qs-style form bodies (`a[b][c]=1`, `items[0][price]=x`) into nested objects. */
export function parseForm(body: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    if (!match) throw invalid(`Invalid parameter name: ${rawKey}`, rawKey);
    const path = [match[1]!, ...[...match[2]!.matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1]!)];
    let node: Record<string, unknown> = out;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i]!;
      const next = node[key];
      if (next === undefined) node[key] = {};
      else if (typeof next !== 'object' || next === null) throw invalid(`Invalid parameter: ${rawKey}`, rawKey);
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return out;
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
const str = (params: Record<string, unknown>, key: string, required = false): string | undefined => {
  const value = params[key];
  if (value === undefined) {
    if (required) throw missing(key);
    return undefined;
  }
  if (typeof value !== 'string') throw invalid(`Invalid string: ${key}`, key);
  return value;
};
const obj = (params: Record<string, unknown>, key: string, required = false): Record<string, unknown> | undefined => {
  const value = params[key];
  if (value === undefined) {
    if (required) throw missing(key);
    return undefined;
  }
  if (typeof value !== 'object' || value === null) throw invalid(`Invalid hash: ${key}`, key);
  return value as Record<string, unknown>;
};
const intParam = (raw: string | null | undefined, key: string): number | undefined => {
  if (raw === undefined || raw === null) return undefined;
  if (!/^\d+$/.test(raw)) throw invalid(`Invalid integer: ${raw}`, key);
  return Number(raw);
};

const IDENTIFIER_WINDOW_S = 24 * 3600;

/** The Stripe-Signature header Stripe sends: `t=<unix>,v1=<hex HMAC-SHA256 of "t.payload" with the whsec_ secret>`. */
export function stripeSignature(payload: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex')}`;
}

/** A Stripe event envelope around an object, as webhooks deliver it. */
export function stripeEvent(type: string, object: Record<string, unknown>, created = Math.floor(Date.now() / 1000)) {
  return { id: id('evt'), object: 'event', api_version: '2025-10-29.clover', created, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type, data: { object } };
}

/** POSTs an event to a webhook endpoint signed like Stripe (options: another timestamp, a body altered after signing). */
export async function sendStripeWebhook(url: string, secret: string, event: unknown, options: { timestamp?: number; tamper?: boolean } = {}) {
  const payload = JSON.stringify(event);
  const signature = stripeSignature(payload, secret, options.timestamp);
  const body = options.tamper ? payload.replace(/"livemode":false/, '"livemode":true') : payload;
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body });
  return { status: response.status, json: (await response.json().catch(() => undefined)) as any };
}

export async function startFakeStripe(options: { port?: number; host?: string; now?: () => Date; seed?: number } = {}): Promise<FakeStripe> {
  const accounts = new Map<string, Account>();
  let faults: Array<Fault & { hits: number }> = [];
  let now = options.now ?? (() => new Date());
  let processingDelayMs = 0;
  const inFlight = new Map<string, number>();
  const sockets = new Set<Socket>();
  const events: StoredMeterEvent[] = [];
  const requests: RequestLog[] = [];
  const quantityUpdates: QuantityUpdate[] = [];
  let rng = options.seed ?? 42;
  const random = () => {
    // mulberry32: deterministic fault patterns for a given seed.
    rng = (rng + 0x6d2b79f5) | 0;
    let t = Math.imul(rng ^ (rng >>> 15), 1 | rng);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  const state = { concurrencyViolations: 0, maxConcurrentPerKey: 0 };
  const revokedKeys = new Set<string>();
  const nowS = () => Math.floor(now().getTime() / 1000);

  const account = (key: string): Account => {
    let a = accounts.get(key);
    if (!a) {
      a = { meters: new Map(), customers: new Map(), subscriptions: new Map(), subscriptionItems: new Map(), identifiers: new Map(), events: [], idempotency: new Map() };
      accounts.set(key, a);
    }
    return a;
  };

  const pickFault = (path: string): Fault | null => {
    for (const fault of faults) {
      if (fault.pathPrefix && !path.startsWith(fault.pathPrefix)) continue;
      if (fault.times !== undefined && fault.hits >= fault.times) continue;
      if (random() >= (fault.probability ?? 1)) continue;
      fault.hits++;
      return fault;
    }
    return null;
  };

  type Route = { method: string; pattern: RegExp; handle: (ctx: { acct: Account; acctKey: string; params: Record<string, unknown>; query: URLSearchParams; match: RegExpExecArray; stripeAccount: string | null }) => Promise<unknown> | unknown };

  const createMeterEvent: Route['handle'] = async ({ acct, acctKey, params, stripeAccount }) => {
    const eventName = str(params, 'event_name', true)!;
    const payload = obj(params, 'payload', true)!;
    const customer = str(payload, 'stripe_customer_id');
    if (!customer) throw missing('payload[stripe_customer_id]');
    const value = str(payload, 'value') ?? '1';
    if (!/^\d+(\.\d+)?$/.test(value)) throw invalid(`Invalid meter event value: ${value}. It must be a non-negative number.`, 'payload[value]');
    if (new Decimal(value).sd() > 15) throw invalid(`Invalid meter event value: ${value}. It must have at most 15 significant digits.`, 'payload[value]');
    const identifier = str(params, 'identifier') ?? id('mev');
    if (identifier.length > 100) throw invalid('identifier must be at most 100 characters.', 'identifier');
    const timestampRaw = str(params, 'timestamp');
    const timestamp = timestampRaw === undefined ? nowS() : intParam(timestampRaw, 'timestamp')!;
    const t = nowS();
    if (timestamp < t - 35 * 24 * 3600) throw invalid('Timestamp must be within the past 35 calendar days.', 'timestamp', 'timestamp_too_far_in_past');
    if (timestamp > t + 5 * 60) throw invalid('Timestamp must not be more than 5 minutes in the future.', 'timestamp', 'timestamp_in_future');
    const meter = [...acct.meters.values()].find((m) => m.event_name === eventName && m.status === 'active');
    if (!meter) throw invalid(`No active meter was found matching event_name ${eventName}.`, 'event_name', 'resource_missing');
    if (!acct.customers.has(customer)) throw invalid(`No such customer: '${customer}'`, 'payload[stripe_customer_id]', 'resource_missing');

    // Stripe allows one concurrent call per customer × meter; the second gets 429.
    const slot = `${acctKey}|${eventName}|${customer}`;
    const running = inFlight.get(slot) ?? 0;
    if (running > 0) {
      state.concurrencyViolations++;
      throw new StripeError(429, 'invalid_request_error', 'Too many concurrent requests for this customer and meter.', 'rate_limit', undefined, { 'Retry-After': '1' });
    }
    inFlight.set(slot, running + 1);
    state.maxConcurrentPerKey = Math.max(state.maxConcurrentPerKey, running + 1);
    try {
      if (processingDelayMs > 0) await new Promise((r) => setTimeout(r, processingDelayMs));
      const seenAt = acct.identifiers.get(identifier);
      if (seenAt !== undefined && seenAt > t - IDENTIFIER_WINDOW_S) {
        throw invalid(`An event with identifier ${identifier} already exists.`, 'identifier', 'resource_already_exists');
      }
      acct.identifiers.set(identifier, t);
      const stored: StoredMeterEvent = { account: acctKey, identifier, eventName, customer, value, timestamp, createdAt: t, stripeAccountHeader: stripeAccount };
      acct.events.push(stored);
      events.push(stored);
      return { object: 'billing.meter_event', created: t, event_name: eventName, identifier, livemode: false, payload: { ...payload, value }, timestamp };
    } finally {
      inFlight.set(slot, (inFlight.get(slot) ?? 1) - 1);
    }
  };

  const routes: Route[] = [
    {
      method: 'POST',
      pattern: /^\/v1\/billing\/meters$/,
      handle: ({ acct, params }) => {
        const displayName = str(params, 'display_name', true)!;
        const eventName = str(params, 'event_name', true)!;
        const aggregation = obj(params, 'default_aggregation', true)!;
        const formula = str(aggregation, 'formula');
        if (!formula) throw missing('default_aggregation[formula]');
        if (!['sum', 'count', 'last'].includes(formula)) throw invalid(`Invalid formula: ${formula}`, 'default_aggregation[formula]');
        if ([...acct.meters.values()].some((m) => m.event_name === eventName && m.status === 'active')) {
          throw invalid(`An active meter with event_name ${eventName} already exists.`, 'event_name', 'resource_already_exists');
        }
        const meter = {
          id: id('mtr'),
          event_name: eventName,
          display_name: displayName,
          status: 'active' as const,
          created: nowS(),
          default_aggregation: { formula },
          customer_mapping: obj(params, 'customer_mapping') ?? { event_payload_key: 'stripe_customer_id', type: 'by_id' },
          value_settings: obj(params, 'value_settings') ?? { event_payload_key: 'value' },
          event_time_window: str(params, 'event_time_window') ?? null,
        };
        acct.meters.set(meter.id, meter);
        return { object: 'billing.meter', livemode: false, updated: meter.created, ...meter };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/billing\/meters$/,
      // Stripe's list: `status` filters, at most `limit` (default 10, 1–100) per page, the next page `starting_after` the last id.
      handle: ({ acct, query }) => {
        const limit = intParam(query.get('limit'), 'limit') ?? 10;
        if (limit < 1 || limit > 100) throw invalid('limit must be between 1 and 100.', 'limit');
        const status = query.get('status');
        const all = [...acct.meters.values()].filter((m) => !status || m.status === status);
        const after = query.get('starting_after');
        const from = after ? all.findIndex((m) => m.id === after) + 1 : 0;
        if (after && from === 0) throw new StripeError(404, 'invalid_request_error', `No such billing meter: '${after}'`, 'resource_missing', 'starting_after');
        const page = all.slice(from, from + limit);
        return {
          object: 'list',
          url: '/v1/billing/meters',
          has_more: from + limit < all.length,
          data: page.map((m) => ({ object: 'billing.meter', livemode: false, ...m })),
        };
      },
    },
    { method: 'POST', pattern: /^\/v1\/billing\/meter_events$/, handle: createMeterEvent },
    {
      method: 'GET',
      pattern: /^\/v1\/billing\/meters\/([^/]+)\/event_summaries$/,
      handle: ({ acct, query, match }) => {
        const meter = acct.meters.get(match[1]!);
        if (!meter) throw new StripeError(404, 'invalid_request_error', `No such billing meter: '${match[1]}'`, 'resource_missing', 'id');
        const customer = query.get('customer');
        if (!customer) throw missing('customer');
        const start = intParam(query.get('start_time'), 'start_time');
        const end = intParam(query.get('end_time'), 'end_time');
        if (start === undefined) throw missing('start_time');
        if (end === undefined) throw missing('end_time');
        if (end <= start) throw invalid('end_time must be after start_time.', 'end_time');
        // Stripe aggregates by the minute: a window that cuts one is refused.
        if (start % 60 !== 0) throw invalid('start_time must be aligned with minute boundaries.', 'start_time');
        if (end % 60 !== 0) throw invalid('end_time must be aligned with minute boundaries.', 'end_time');
        const sum = acct.events
          .filter((e) => e.eventName === meter.event_name && e.customer === customer && e.timestamp >= start && e.timestamp < end)
          .reduce((acc, e) => acc.plus(e.value), new Decimal(0));
        return {
          object: 'list',
          url: `/v1/billing/meters/${meter.id}/event_summaries`,
          has_more: false,
          data: [{ id: id('mtrusg'), object: 'billing.meter_event_summary', aggregated_value: sum.toNumber(), start_time: start, end_time: end, livemode: false, meter: meter.id }],
        };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/customers$/,
      handle: ({ acct, params }) => {
        const customer = { id: id('cus'), object: 'customer', created: nowS(), email: str(params, 'email') ?? null, name: str(params, 'name') ?? null, metadata: obj(params, 'metadata') ?? {}, livemode: false };
        acct.customers.set(customer.id, customer);
        return customer;
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/subscriptions$/,
      handle: ({ acct, params }) => {
        const customer = str(params, 'customer', true)!;
        if (!acct.customers.has(customer)) throw invalid(`No such customer: '${customer}'`, 'customer', 'resource_missing');
        const items = obj(params, 'items', true)!;
        const list = Object.values(items).map((item, i) => {
          if (typeof item !== 'object' || item === null || typeof (item as Record<string, unknown>).price !== 'string') throw missing(`items[${i}][price]`);
          const quantity = intParam((item as Record<string, string>).quantity, `items[${i}][quantity]`) ?? 1;
          return { id: id('si'), object: 'subscription_item', price: { id: (item as Record<string, string>).price, object: 'price' }, quantity };
        });
        if (list.length === 0) throw missing('items');
        const start = nowS();
        const end = Math.floor(new Date(new Date(start * 1000).setUTCMonth(new Date(start * 1000).getUTCMonth() + 1)).getTime() / 1000);
        const subscription = {
          id: id('sub'),
          object: 'subscription',
          customer,
          status: 'active',
          created: start,
          billing_cycle_anchor: start,
          livemode: false,
          items: { object: 'list', data: list.map((item) => ({ ...item, subscription: '', current_period_start: start, current_period_end: end })), has_more: false },
        };
        for (const item of subscription.items.data) {
          item.subscription = subscription.id;
          acct.subscriptionItems.set(item.id, item);
        }
        acct.subscriptions.set(subscription.id, subscription);
        return subscription;
      },
    },
    {
      // Stripe's subscription item update: quantity (a whole number ≥ 0) and how to prorate it.
      method: 'POST',
      pattern: /^\/v1\/subscription_items\/([^/]+)$/,
      handle: ({ acct, acctKey, params, match }) => {
        const item = acct.subscriptionItems.get(match[1]!);
        if (!item) throw new StripeError(404, 'invalid_request_error', `No such subscription item: '${match[1]}'`, 'resource_missing', 'id');
        const quantity = intParam(str(params, 'quantity'), 'quantity');
        const proration = str(params, 'proration_behavior');
        if (proration !== undefined && !['create_prorations', 'none', 'always_invoice'].includes(proration)) {
          throw invalid(`Invalid proration_behavior: must be one of create_prorations, none, or always_invoice`, 'proration_behavior');
        }
        if (quantity !== undefined) {
          quantityUpdates.push({ account: acctKey, subscriptionItem: item.id as string, from: item.quantity, to: quantity, prorationBehavior: proration ?? null, at: nowS() });
          item.quantity = quantity;
        }
        return item;
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/subscription_items\/([^/]+)$/,
      handle: ({ acct, match }) => {
        const item = acct.subscriptionItems.get(match[1]!);
        if (!item) throw new StripeError(404, 'invalid_request_error', `No such subscription item: '${match[1]}'`, 'resource_missing', 'id');
        return item;
      },
    },
  ];

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'application/json', 'Request-Id': id('req'), ...headers });
    res.end(JSON.stringify(body));
  };
  const sendError = (res: http.ServerResponse, error: StripeError) =>
    send(res, error.status, { error: { type: error.type, code: error.code, message: error.message, param: error.param } }, error.headers);

  /** Connect OAuth codes, one use each: code → the account that approved the platform. */
  const oauthCodes = new Map<string, { account: string; used: boolean }>();
  const authorizeConnect = (accountId: string) => {
    const code = `ac_${randomBytes(12).toString('hex')}`;
    oauthCodes.set(code, { account: accountId, used: false });
    return code;
  };
  /** POST /oauth/token (connect.stripe.com): OAuth 2 errors are `{error, error_description}`, not Stripe's `{error: {…}}`. */
  const oauthToken = (authorization: string, body: string, reply: (status: number, payload: unknown) => void) => {
    const oauthError = (status: number, error: string, description: string) => reply(status, { error, error_description: description });
    const key = /^Bearer (sk_(?:test|live)_[A-Za-z0-9_]+)$/.exec(authorization)?.[1];
    if (!key) return oauthError(401, 'invalid_client', 'No valid platform secret key was provided.');
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'authorization_code') return oauthError(400, 'unsupported_grant_type', `Unsupported grant type: ${form.get('grant_type') ?? '(none)'}`);
    const code = form.get('code') ?? '';
    const grant = oauthCodes.get(code);
    if (!grant) return oauthError(400, 'invalid_grant', `Authorization code does not exist: ${code}`);
    if (grant.used) return oauthError(400, 'invalid_grant', `Authorization code has already been used: ${code}`);
    grant.used = true;
    return reply(200, {
      access_token: `sk_test_${randomBytes(12).toString('hex')}`,
      livemode: false,
      refresh_token: `rt_${randomBytes(12).toString('hex')}`,
      scope: 'read_write',
      stripe_publishable_key: `pk_test_${randomBytes(12).toString('hex')}`,
      stripe_user_id: grant.account,
      token_type: 'bearer',
    });
  };

  const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  /**
   * Stripe's Connect authorize page, reduced to what a browser test drives: the platform's
   * client id, the account that approves (a field here; on Stripe, whoever signs in), and
   * "Authorize access" or "Decline", which send the browser to redirect_uri.
   */
  const authorizePage = (url: URL, res: http.ServerResponse, log: RequestLog) => {
    const q = url.searchParams;
    const problems = [
      q.get('response_type') !== 'code' && 'response_type must be code',
      !/^ca_\w+$/.test(q.get('client_id') ?? '') && 'client_id must be a Connect client id (ca_…)',
      !q.get('state') && 'state is missing',
      !/^https?:\/\//.test(q.get('redirect_uri') ?? '') && 'redirect_uri must be an http(s) URL',
    ].filter(Boolean);
    log.status = problems.length ? 400 : 200;
    res.writeHead(log.status, { 'Content-Type': 'text/html; charset=utf-8' });
    if (problems.length) return res.end(`<!doctype html><title>Stripe: invalid request</title><p>${problems.map((p) => escapeHtml(String(p))).join('<br>')}</p>`);
    const hidden = ['state', 'redirect_uri', 'client_id'].map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(q.get(k)!)}">`).join('');
    res.end(`<!doctype html><html lang="en"><title>Connect with Stripe (fake)</title>
<h1>Connect your Stripe account</h1>
<p>The platform <code>${escapeHtml(q.get('client_id')!)}</code> asks for <code>${escapeHtml(q.get('scope') ?? 'read_only')}</code> access.</p>
<form action="/oauth/authorize/decide" method="get">${hidden}
<label>Stripe account <input name="account" value="acct_1FakeOwner"></label>
<button name="decision" value="allow">Authorize access</button> <button name="decision" value="deny">Decline</button>
</form></html>`);
  };
  const authorizeDecision = (url: URL, res: http.ServerResponse, log: RequestLog) => {
    const q = url.searchParams;
    const back = new URL(q.get('redirect_uri') ?? '');
    back.searchParams.set('state', q.get('state') ?? '');
    if (q.get('decision') === 'allow') back.searchParams.set('code', authorizeConnect(q.get('account') ?? ''));
    else {
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', 'The user denied your request');
    }
    log.status = 302;
    res.writeHead(302, { Location: back.toString() });
    res.end();
  };

  const control = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => {
    if (req.url === '/_fake/connect/authorize' && req.method === 'POST') {
      const account = (JSON.parse(body || '{}') as { account?: string }).account;
      if (!account || !/^acct_[A-Za-z0-9]+$/.test(account)) return send(res, 400, { error: 'account (acct_…) is required' });
      return send(res, 200, { code: authorizeConnect(account) });
    }
    if (req.url === '/_fake/faults' && req.method === 'POST') {
      fakeStripe.inject(JSON.parse(body || '{}') as Fault);
      return send(res, 200, { faults });
    }
    if (req.url === '/_fake/faults' && req.method === 'DELETE') {
      fakeStripe.clearFaults();
      return send(res, 200, { faults });
    }
    if (req.url === '/_fake/state') return send(res, 200, { events, concurrencyViolations: state.concurrencyViolations, faults });
    return send(res, 404, { error: { type: 'invalid_request_error', message: 'Unknown control path' } });
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((error: unknown) => {
        send(res, 500, { error: { type: 'api_error', message: `Fake Stripe bug: ${(error as Error).message}` } });
      });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string) {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname.startsWith('/_fake/')) return control(req, res, body);
    const stripeAccount = (req.headers['stripe-account'] as string | undefined) ?? null;
    const idempotencyKey = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const authorization = req.headers.authorization ?? '';
    const identifier = url.pathname === '/v1/billing/meter_events' ? new URLSearchParams(body).get('identifier') : null;
    const log: RequestLog = { method: req.method ?? 'GET', path: url.pathname, status: 0, stripeAccount, idempotencyKey, authorization, identifier, at: Date.now() };
    requests.push(log);
    const reply = (status: number, payload: unknown, headers?: Record<string, string>) => {
      log.status = status;
      send(res, status, payload, headers);
    };
    const fail = (error: StripeError) => {
      log.status = error.status;
      sendError(res, error);
    };

    if (url.pathname === '/oauth/token' && req.method === 'POST') return oauthToken(authorization, body, reply);
    if (url.pathname === '/oauth/authorize' && req.method === 'GET') return authorizePage(url, res, log);
    if (url.pathname === '/oauth/authorize/decide' && req.method === 'GET') return authorizeDecision(url, res, log);

    const key = /^Bearer ((?:sk|rk)_(?:test|live)_[A-Za-z0-9_]+)$/.exec(authorization)?.[1];
    if (!key) {
      return fail(
        new StripeError(401, 'invalid_request_error', authorization ? 'Invalid API Key provided.' : 'You did not provide an API key. Provide it in the Authorization header (Bearer auth).', 'api_key_invalid'),
      );
    }
    if (revokedKeys.has(key)) return fail(new StripeError(401, 'invalid_request_error', `Expired API Key provided: ${key.slice(0, 12)}***`, 'api_key_expired'));
    if (stripeAccount !== null && !/^acct_[A-Za-z0-9]+$/.test(stripeAccount)) {
      return fail(new StripeError(403, 'invalid_request_error', `The provided key does not have access to account '${stripeAccount}' (or that account does not exist).`, 'account_invalid'));
    }
    if (req.method === 'POST' && body && !String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return fail(invalid('Request bodies must be form-encoded (application/x-www-form-urlencoded).'));
    }

    const route = routes.find((r) => r.method === req.method && r.pattern.test(url.pathname));
    if (!route) return fail(new StripeError(404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${url.pathname}).`, 'resource_missing'));
    const match = route.pattern.exec(url.pathname)!;

    const fault = url.pathname.startsWith('/v1/') ? pickFault(url.pathname) : null;
    if (fault) log.fault = fault.kind;
    if (fault?.kind === 'down') {
      log.status = -1;
      req.socket.destroy();
      return;
    }
    if (fault?.kind === '500-before') return fail(new StripeError(500, 'api_error', 'An unknown error occurred (injected before applying).'));
    if (fault?.kind === '429') {
      return fail(
        new StripeError(429, 'invalid_request_error', 'Request rate limit exceeded (injected).', 'rate_limit', undefined, { 'Retry-After': String(fault.retryAfterSeconds ?? 1) }),
      );
    }

    const acctKey = stripeAccount ?? `key:${key}`;
    const acct = account(acctKey);
    let params: Record<string, unknown>;
    try {
      params = parseForm(body);
    } catch (error) {
      return fail(error as StripeError);
    }

    // Idempotency: same key + same request → the stored answer; same key + other params → 400.
    const fingerprint = createHash('sha256').update(`${req.method} ${url.pathname}\n${body}`).digest('hex');
    if (req.method === 'POST' && idempotencyKey) {
      const stored = acct.idempotency.get(idempotencyKey);
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          return fail(
            new StripeError(
              400,
              'idempotency_error',
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
              'idempotency_key_in_use',
            ),
          );
        }
        return reply(stored.status, stored.body, { 'Idempotent-Replayed': 'true' });
      }
    }

    let status = 200;
    let result: unknown;
    try {
      result = await route.handle({ acct, acctKey, params, query: url.searchParams, match, stripeAccount });
    } catch (error) {
      if (!(error instanceof StripeError)) throw error;
      if (error.status === 429) return fail(error); // Stripe does not store rate-limited attempts.
      status = error.status;
      result = { error: { type: error.type, code: error.code, message: error.message, param: error.param } };
    }
    if (req.method === 'POST' && idempotencyKey) acct.idempotency.set(idempotencyKey, { fingerprint, status, body: result });
    if (fault?.kind === '500-after') return fail(new StripeError(500, 'api_error', 'An unknown error occurred (injected after applying).'));
    if (fault?.kind === 'slow') {
      await new Promise((r) => setTimeout(r, fault.delayMs ?? 5_000));
      if (res.destroyed || req.socket.destroyed) {
        log.status = -2;
        return;
      }
    }
    reply(status, result);
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';

  const fakeStripe: FakeStripe = {
    url: `http://${host}:${port}`,
    port,
    host,
    events,
    quantityUpdates,
    requests,
    get concurrencyViolations() {
      return state.concurrencyViolations;
    },
    get maxConcurrentPerKey() {
      return state.maxConcurrentPerKey;
    },
    inject: (fault) => {
      faults.push({ ...fault, hits: 0 });
    },
    clearFaults: () => {
      faults = [];
    },
    setNow: (fn) => {
      now = fn;
    },
    setProcessingDelay: (ms) => {
      processingDelayMs = ms;
    },
    total: ({ account: acctKey, eventName, customer, start, end }) =>
      events
        .filter(
          (e) =>
            e.account === acctKey &&
            e.eventName === eventName &&
            e.customer === customer &&
            (start === undefined || e.timestamp >= start.getTime() / 1000) &&
            (end === undefined || e.timestamp < end.getTime() / 1000),
        )
        .reduce((acc, e) => acc.plus(e.value), new Decimal(0))
        .toString(),
    revokeKey: (key) => {
      revokedKeys.add(key);
    },
    loseEvent: ({ account: acctKey, identifier }) => {
      const acct = accounts.get(acctKey);
      const at = acct?.events.findIndex((e) => e.identifier === identifier) ?? -1;
      if (!acct || at < 0) throw new Error(`No applied meter event ${identifier} in ${acctKey}`);
      const [lost] = acct.events.splice(at, 1);
      events.splice(events.indexOf(lost!), 1);
      return lost!;
    },
    authorizeConnect,
    duplicateIdentifiers: () => {
      const seen = new Map<string, number>();
      for (const e of events) seen.set(`${e.account}|${e.identifier}`, (seen.get(`${e.account}|${e.identifier}`) ?? 0) + 1);
      return [...seen.entries()].filter(([, n]) => n > 1).map(([k]) => k);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fakeStripe;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '12111' }, host: { type: 'string', default: '127.0.0.1' } } });
  const fake = await startFakeStripe({ port: Number(values.port), host: values.host });
  console.log(`fake Stripe listening on ${fake.url} (faults: POST ${fake.url}/_fake/faults, state: GET ${fake.url}/_fake/state)`);
}
