import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { ApiKeyScope } from '../../db/schema.js';
import type { Context } from '../context.js';
import { forbidden, unauthorized, validationError } from '../errors.js';
import { createCaller, type Caller } from '../root.js';
import { ZApiKey, ZApiKeyList, ZCreateApiKeyInput, ZCreatedApiKey } from '../schemas/api-keys.js';
import { ZMe } from '../schemas/auth.js';
import { requireScope } from '../services/api-keys.js';
import { ZCreateMeterInput, ZMeter, ZMeterList, ZMeterWithWarnings, ZUpdateMeterInput } from '../schemas/meters.js';
import { ZText } from '../schemas/common.js';
import { ZCustomerDetail, ZCustomerEvents, ZCustomerEventsInput, ZCustomerGetInput, ZTopCustomers, ZTopCustomersInput } from '../schemas/customers.js';
import { ZRevenueOverview } from '../schemas/revenue.js';
import { ZTrends, ZTrendsInput } from '../schemas/insights.js';
import {
  MAX_BATCH,
  ZBatchResponse,
  ZCheckInput,
  ZCheckResult,
  ZCreateTokenInput,
  ZCustomer,
  ZCustomerUsage,
  ZCustomerUsageInput,
  ZSettings,
  ZToken,
  ZTrackEvent,
  ZTrackedEvent,
  ZUpdateSettingsInput,
  ZUpsertCustomerInput,
  ZWarnings,
} from '../schemas/usage.js';
import { ALERT_ROUTES } from './alert-routes.js';
import { BILLING_ROUTES } from './billing-routes.js';
import { readJsonBody } from './body.js';
import { checkOne, trackMany, trackOne } from './track.js';
import { parseInput, queryObject, ZIdParam } from './validation.js';
import { WEBHOOK_ROUTES } from './webhook-routes.js';

export type RestResult = { status: number; body?: unknown; headers?: Record<string, string> };

type HandlerArgs = {
  caller: Caller;
  ctx: Context;
  params: Record<string, string | undefined>;
  body: unknown;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** Each header's values as given, one per field line: a header sent twice has two. */
  headersDistinct: IncomingMessage['headersDistinct'];
};

export type RestRoute = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** find-my-way syntax: `/api/usage/keys/:id`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** The API key scope required (`any`: any valid key); every /api/usage route is authenticated. */
  scope: ApiKeyScope | 'any';
  /** Also taken with a browser token, acting for its own user only: track and check. */
  browserToken?: true;
  body?: z.ZodType;
  /** The body may be left out (no Content-Length, or 0): every field has a default. */
  bodyOptional?: true;
  /** Query parameters, for the OpenAPI document (handlers parse them). */
  query?: z.ZodObject;
  responses: Record<number, { description: string; schema?: z.ZodType; headers?: Record<string, string> }>;
  /** Request headers the route reads, for the OpenAPI document: name → description. */
  requestHeaders?: Record<string, string>;
  handle: (args: HandlerArgs) => Promise<RestResult>;
};

const booleanValue = (key: string, value: string | undefined): boolean => {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw validationError([{ field: key, message: 'must be true or false' }]);
};

// Given twice (`true` and `false`), which was meant would be a guess: 422, as for every query parameter.
const booleanQuery = (query: URLSearchParams, key: string): boolean => booleanValue(key, parseInput(z.object({ [key]: z.string().optional() }).strict(), queryObject(query))[key]);

/** A customer route's query parameters; the customer is the path's: a user_id here would name another one, or the same twice. */
function customerQuery(query: URLSearchParams): Record<string, string> {
  const given = queryObject(query);
  if ('user_id' in given) throw validationError([{ field: 'user_id', message: 'is not a known query parameter: the customer is named by the path' }]);
  return given;
}

const ZIdempotencyHeader = ZText(255).min(1, 'must not be empty');

/**
 * The Idempotency-Key header's one value. Node reads a header's bytes as Latin-1, so a key of
 * other characters (`заказ-1` in UTF-8) was read as another key than the same key in a JSON
 * body: sent once each way, the event was counted twice. Such keys travel in the body. A header
 * given twice was read as the two values joined (`a, b`), a key neither retry would send alone.
 */
function idempotencyHeader(given: string[] | undefined): string | undefined {
  if (given === undefined) return undefined;
  if (given.length > 1) throw validationError([{ field: 'Idempotency-Key', message: 'is given more than once; give it once' }]);
  const value = given[0] ?? '';
  if (!/^[\x20-\x7e]*$/.test(value)) {
    throw validationError([{ field: 'Idempotency-Key', message: 'must be printable ASCII characters; send a key of other characters as the body’s idempotency_key' }]);
  }
  const parsed = ZIdempotencyHeader.safeParse(value);
  if (!parsed.success) throw validationError([{ field: 'Idempotency-Key', message: parsed.error.issues[0]?.message ?? 'is invalid' }]);
  return parsed.data;
}

function trackAuth(ctx: Context) {
  if (ctx.auth.kind === 'anonymous') throw unauthorized('Send an API key as "Authorization: Bearer <key>".');
  return ctx.auth;
}

/**
 * The REST surface of /api/usage. Each route parses with the same zod schema its tRPC
 * procedure declares and calls that procedure, so both transports share one rule.
 */
export const REST_ROUTES: RestRoute[] = [
  {
    method: 'GET',
    path: '/api/usage/me',
    operationId: 'getMe',
    summary: 'The creator and API key this request authenticates as',
    tag: 'Account',
    scope: 'any',
    responses: { 200: { description: 'The authenticated creator', schema: ZMe } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.auth.me() }),
  },
  {
    method: 'GET',
    path: '/api/usage/keys',
    operationId: 'listApiKeys',
    summary: 'List API keys (secrets are never returned)',
    tag: 'API keys',
    scope: 'admin',
    responses: { 200: { description: 'The creator’s API keys, newest first', schema: ZApiKeyList } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.apiKeys.list() }),
  },
  {
    method: 'POST',
    path: '/api/usage/keys',
    operationId: 'createApiKey',
    summary: 'Create an API key; the `api_key` value is shown once',
    tag: 'API keys',
    scope: 'admin',
    body: ZCreateApiKeyInput,
    responses: { 201: { description: 'The new key, with its secret', schema: ZCreatedApiKey } },
    handle: async ({ caller, body }) => ({ status: 201, body: await caller.apiKeys.create(parseInput(ZCreateApiKeyInput, body)) }),
  },
  {
    method: 'DELETE',
    path: '/api/usage/keys/:id',
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key; it fails from the next request on',
    tag: 'API keys',
    scope: 'admin',
    responses: { 200: { description: 'The revoked key', schema: ZApiKey } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.apiKeys.revoke(parseInput(ZIdParam, params)) }),
  },
  {
    method: 'POST',
    path: '/api/usage/track',
    operationId: 'trackUsage',
    summary: 'Record one usage event (201) or a batch of up to 1,000 (200, judged per event in order)',
    tag: 'Usage',
    scope: 'track',
    browserToken: true,
    // For the OpenAPI document only (the handler validates per event, through ZTrackBatchInput and ZTrackEvent): its limits and messages.
    body: z.union([ZTrackEvent, z.array(ZTrackEvent).min(1, 'must hold at least one event').max(MAX_BATCH, `must hold at most ${MAX_BATCH} events`)]),
    responses: {
      200: { description: 'Batch: one result per event, in order', schema: ZBatchResponse },
      201: {
        description: 'The event, committed, with the customer’s usage after it (header Idempotent-Replayed: true on a replay)',
        schema: ZTrackedEvent,
        headers: { 'Idempotent-Replayed': '`true` when this answer replays the one first given for the idempotency key' },
      },
      402: { description: 'A hard-capped customer would pass the limit; nothing recorded (`used`, `limit`, `remaining`, `period_end`)' },
    },
    requestHeaders: { 'Idempotency-Key': 'The event’s idempotency key (single events; refused on a batch, whose events carry their own), instead of `idempotency_key` in the body; if both are sent they must be equal. Printable ASCII, given once (a key of other characters goes in the body)' },
    handle: async ({ ctx, body, headers, headersDistinct }) => {
      const auth = trackAuth(ctx);
      if (Array.isArray(body)) {
        // One key cannot stand for a batch's events: ignored, a retried batch would count twice.
        if (headers['idempotency-key'] !== undefined) {
          throw validationError([{ field: 'Idempotency-Key', message: 'names a single event; give each event of a batch its own idempotency_key' }]);
        }
        return { status: 200, body: await trackMany(ctx.rt, auth, body, ctx.requestId) };
      }
      if (body === null || typeof body !== 'object') {
        throw validationError([{ field: '(body)', message: `must be an event object or an array of up to ${MAX_BATCH} events` }]);
      }
      const headerKey = idempotencyHeader(headersDistinct['idempotency-key']);
      if (headerKey !== undefined) {
        const inBody = (body as { idempotency_key?: unknown }).idempotency_key;
        if (inBody !== undefined && inBody !== headerKey) {
          throw validationError([{ field: 'idempotency_key', message: 'differs from the Idempotency-Key header; send one or make them equal' }]);
        }
      }
      const { body: event, replayed } = await trackOne(ctx.rt, auth, body, headerKey);
      const replayHeaders: Record<string, string> = replayed ? { 'idempotent-replayed': 'true' } : {};
      return { status: 201, body: event, headers: replayHeaders };
    },
  },
  {
    method: 'GET',
    path: '/api/usage/check',
    operationId: 'checkUsage',
    summary: 'Would an event of `value` (default 1) be accepted now? Records nothing',
    tag: 'Usage',
    scope: 'track',
    browserToken: true,
    // properties travels as the JSON text of the object (URL-encoded).
    query: ZCheckInput.extend({
      properties: z
        .string()
        .optional()
        .describe('The properties the event would carry, as JSON text (`{"seat":"ada"}`, URL-encoded): a unique meter counting a property then knows whether this value is new; without them it assumes so'),
    }),
    responses: { 200: { description: 'Usage against the limit, from the live counter', schema: ZCheckResult } },
    // Served directly (same schema and service as usage.check): the hot read path.
    handle: async ({ ctx, query }) => ({ status: 200, body: await checkOne(ctx.rt, trackAuth(ctx), query) }),
  },
  {
    method: 'POST',
    path: '/api/usage/tokens',
    operationId: 'createUserToken',
    summary: 'Mint a short-lived browser token that can only track and check usage for one user_id',
    tag: 'Usage',
    scope: 'track',
    body: ZCreateTokenInput,
    responses: { 201: { description: 'The token and when it expires', schema: ZToken } },
    handle: async ({ caller, body }) => ({ status: 201, body: await caller.usage.createToken(parseInput(ZCreateTokenInput, body)) }),
  },
  {
    method: 'POST',
    path: '/api/usage/meters',
    operationId: 'createMeter',
    summary: 'Create a meter with its plan limits',
    tag: 'Meters',
    scope: 'admin',
    body: ZCreateMeterInput,
    responses: {
      201: {
        description:
          'The meter, its id and plan limits (`warnings` on plan limits that do nothing: a hard cap on an unlimited plan, an overage price on a hard-capped one)',
        schema: ZMeterWithWarnings,
      },
      409: { description: 'A live meter already has this event_name' },
    },
    handle: async ({ caller, body }) => ({ status: 201, body: await caller.meters.create(parseInput(ZCreateMeterInput, body)) }),
  },
  {
    method: 'GET',
    path: '/api/usage/meters',
    operationId: 'listMeters',
    summary: 'The creator’s meters with their current plan limits (`include_archived=true` for archived ones too)',
    tag: 'Meters',
    scope: 'read',
    query: z.object({ include_archived: z.boolean().optional() }),
    responses: { 200: { description: 'Meters, oldest first', schema: ZMeterList } },
    handle: async ({ caller, query }) => ({ status: 200, body: await caller.meters.list({ include_archived: booleanQuery(query, 'include_archived') }) }),
  },
  {
    method: 'GET',
    path: '/api/usage/meters/:id',
    operationId: 'getMeter',
    summary: 'One meter',
    tag: 'Meters',
    scope: 'read',
    responses: { 200: { description: 'The meter', schema: ZMeter } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.meters.get(parseInput(ZIdParam, params)) }),
  },
  {
    method: 'PATCH',
    path: '/api/usage/meters/:id',
    operationId: 'updateMeter',
    summary: 'Change a meter; listed plan limits replace the current ones from now on (history kept)',
    tag: 'Meters',
    scope: 'admin',
    body: ZUpdateMeterInput,
    responses: {
      200: {
        description:
          'The meter after the change (`warnings` as for create, and when a listed plan drops a hard cap, overage price or soft threshold it had: a listed plan is set whole, a field left out takes its default)',
        schema: ZMeterWithWarnings,
      },
      409: {
        description:
          'The meter is archived (meter-archived), a duration meter with usage was given another unit_name (meter-unit-fixed), its Stripe meter was changed while usage of a period still taking events was reported to the old one (meter-stripe-link-fixed), or the Stripe meter named by stripe_meter_event_name would not bill our reports as used (stripe-meter-incompatible)',
      },
      502: { description: 'Stripe refused when asked about the Stripe meter named by stripe_meter_event_name; nothing changed' },
      503: { description: 'Stripe could not be reached to check stripe_meter_event_name; nothing changed' },
    },
    handle: async ({ caller, params, body }) => ({
      status: 200,
      body: await caller.meters.update({ ...parseInput(ZIdParam, params), patch: parseInput(ZUpdateMeterInput, body) }),
    }),
  },
  {
    method: 'DELETE',
    path: '/api/usage/meters/:id',
    operationId: 'archiveMeter',
    summary: 'Archive a meter: it stops metering (its events answer unknown-meter) and keeps its history',
    tag: 'Meters',
    scope: 'admin',
    responses: { 200: { description: 'The archived meter', schema: ZMeter } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.meters.archive(parseInput(ZIdParam, params)) }),
  },
  {
    method: 'PUT',
    path: '/api/usage/customers/:user_id',
    operationId: 'upsertCustomer',
    summary: 'Create (201) or update (200) a customer; fields left out stay, null clears',
    tag: 'Customers',
    scope: 'admin',
    body: ZUpsertCustomerInput,
    responses: {
      200: { description: 'Updated (`warnings` when plan_name names a plan no live meter has limits for: the customer is unlimited)', schema: ZCustomer.extend({ warnings: ZWarnings.optional() }) },
      201: { description: 'Created (`warnings` as for 200)', schema: ZCustomer.extend({ warnings: ZWarnings.optional() }) },
      409: { description: 'A new billing_anchor would move usage recorded in a period still open to events, or open a period over a closed one with usage (billing-anchor-in-use)' },
    },
    handle: async ({ caller, params, body }) => {
      const { created, ...customer } = await caller.customers.upsert({ user_id: params.user_id ?? '', customer: parseInput(ZUpsertCustomerInput, body) });
      return { status: created ? 201 : 200, body: customer };
    },
  },
  {
    method: 'GET',
    path: '/api/usage/customers/:user_id',
    operationId: 'getCustomer',
    summary: 'One customer: profile, usage against each limit this period, earlier periods and this period’s days',
    tag: 'Customers',
    scope: 'read',
    responses: { 200: { description: 'The customer', schema: ZCustomerDetail }, 404: { description: 'No such customer for this creator' } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.customers.get(parseInput(ZCustomerGetInput, { user_id: params.user_id })) }),
  },
  {
    method: 'GET',
    path: '/api/usage/customers/:user_id/events',
    operationId: 'listCustomerEvents',
    summary: 'A customer’s raw events, newest first (filters: meter_id, from, to, property_key + property_value; pages: limit, cursor = next_cursor)',
    tag: 'Customers',
    scope: 'read',
    query: z.object(ZCustomerEventsInput.shape).omit({ user_id: true }),
    responses: { 200: { description: 'Events, newest first, and the cursor of the next page (null on the last)', schema: ZCustomerEvents }, 404: { description: 'No such customer for this creator' } },
    handle: async ({ caller, params, query }) => {
      return { status: 200, body: await caller.customers.events(parseInput(ZCustomerEventsInput, { ...customerQuery(query), user_id: params.user_id })) };
    },
  },
  {
    method: 'GET',
    path: '/api/usage/customers/:user_id/usage',
    operationId: 'getCustomerUsage',
    summary: 'A customer’s usage per meter for the current or previous period, with overage',
    tag: 'Customers',
    scope: 'read',
    query: z.object({ period: z.enum(['current', 'previous']).optional() }),
    responses: { 200: { description: 'Usage per meter', schema: ZCustomerUsage } },
    handle: async ({ caller, params, query }) => ({
      status: 200,
      body: await caller.customers.usage(parseInput(ZCustomerUsageInput, { ...customerQuery(query), user_id: params.user_id })),
    }),
  },
  {
    method: 'GET',
    path: '/api/usage/settings',
    operationId: 'getSettings',
    summary: 'The creator’s defaults: plan for unknown customers, late-event grace',
    tag: 'Settings',
    scope: 'read',
    responses: { 200: { description: 'Settings', schema: ZSettings } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.settings.get() }),
  },
  {
    method: 'PUT',
    path: '/api/usage/settings',
    operationId: 'updateSettings',
    summary: 'Change the creator’s defaults (fields left out stay)',
    tag: 'Settings',
    scope: 'admin',
    body: ZUpdateSettingsInput,
    responses: {
      200: { description: 'Settings after the change (`warnings` when default_plan names a plan no live meter has limits for: new customers are unlimited)', schema: ZSettings.extend({ warnings: ZWarnings.optional() }) },
      409: { description: 'A longer late_event_grace_hours would open a period again over days a closed period with usage already metered (late-event-grace-reopens-period)' },
    },
    handle: async ({ caller, body }) => ({ status: 200, body: await caller.settings.update(parseInput(ZUpdateSettingsInput, body)) }),
  },
  {
    method: 'GET',
    path: '/api/usage/reports/top-customers',
    operationId: 'reportTopCustomers',
    summary: 'Customers ranked on one meter for their current or previous period (the dashboard’s Top users; pages: limit, cursor = next_cursor)',
    tag: 'Reports',
    scope: 'read',
    query: ZTopCustomersInput,
    responses: { 200: { description: 'Customers with usage on the meter in the period', schema: ZTopCustomers }, 404: { description: 'No such meter for this creator' } },
    handle: async ({ caller, query }) => ({ status: 200, body: await caller.customers.top(parseInput(ZTopCustomersInput, queryObject(query))) }),
  },
  {
    method: 'GET',
    path: '/api/usage/reports/trends',
    operationId: 'reportTrends',
    summary: 'One meter’s usage over time by hour, day or month (the dashboard’s Trends), optionally against the previous range or broken down by plan or a rollup dimension',
    tag: 'Reports',
    scope: 'read',
    query: ZTrendsInput,
    responses: { 200: { description: 'Points of the range (widened to whole buckets: `from`/`to` say so)', schema: ZTrends }, 404: { description: 'No such meter for this creator' } },
    handle: async ({ caller, query }) => {
      const { compare, ...input } = queryObject(query);
      return { status: 200, body: await caller.insights.trends(parseInput(ZTrendsInput, compare === undefined ? input : { ...input, compare: booleanValue('compare', compare) })) };
    },
  },
  {
    method: 'GET',
    path: '/api/usage/forecasts/revenue',
    operationId: 'forecastRevenue',
    summary: 'Overage revenue of the current period per meter and plan: so far, and projected to the period’s end',
    tag: 'Reports',
    scope: 'read',
    responses: { 200: { description: 'Revenue so far and projected', schema: ZRevenueOverview } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.revenue.overview() }),
  },
  ...ALERT_ROUTES,
  ...WEBHOOK_ROUTES,
  ...BILLING_ROUTES,
];

/**
 * 422 naming each query parameter of a route that takes none: ignored, a parameter meant for
 * another route (`?period=previous` on a customer) would be answered as if never sent. Routes
 * that take some parse them with strict schemas, which name unknown ones with the rest.
 */
function refuseQuery(route: RestRoute, query: URLSearchParams): void {
  if (route.query || query.size === 0) return;
  throw validationError([...new Set(query.keys())].map((field) => ({ field, message: 'is not a known query parameter: this route takes none' })));
}

export async function runRestRoute(
  route: RestRoute,
  req: IncomingMessage,
  ctx: Context,
  params: Record<string, string | undefined>,
  query: URLSearchParams,
): Promise<RestResult> {
  if (ctx.auth.kind === 'anonymous') throw ctx.authError ?? unauthorized('Send an API key as "Authorization: Bearer <key>".');
  // Scope before body: a key that may not call the route learns nothing from validation.
  if (ctx.auth.kind === 'api_key' && route.scope !== 'any') requireScope(ctx.auth, route.scope);
  if (ctx.auth.kind === 'user_token' && !route.browserToken) throw forbidden('A browser token can only track and check usage.');
  refuseQuery(route, query);
  const noBody = route.bodyOptional && req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] ?? '0') === '0';
  const body = route.body && !noBody ? await readJsonBody(req) : undefined;
  return route.handle({ caller: createCaller(ctx), ctx, params, body, query, headers: req.headers, headersDistinct: req.headersDistinct });
}
