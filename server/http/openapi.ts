import { z } from 'zod';
import { ERROR_CATEGORIES } from '../errors.js';
import { REST_ROUTES, type RestRoute } from './rest.js';

const ZProblem = z
  .object({
    type: z.string().describe('URI identifying the problem type'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    request_id: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  // Extension members travel beside these: `used`, `limit`, `remaining`, `period_end` on
  // a 402, `period_start`/`period_end` on a closed period.
  .loose()
  .describe('RFC 9457 problem details; some problem types add members of their own (e.g. `used`, `limit`, `remaining`, `period_end` on quota-exceeded)');

const ZHealth = z.object({ status: z.literal('ok') });

type JsonSchema = Record<string, unknown>;

// Output schemas describe what we send; input schemas what we accept (defaults optional).
const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
};

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** Every 503 says when to try again (README: "503 with `Retry-After`"). */
const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } } };
const unavailableResponse = (description: string) => ({ ...problemResponse(description), headers: RETRY_AFTER });

const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');

function operation(route: RestRoute) {
  const params: Array<Record<string, unknown>> = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const pathParamCount = params.length;
  if (route.query) {
    const schema = schemaOf(route.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      // A parameter's description belongs on the parameter, where viewers show it.
      const { description, ...rest } = property as JsonSchema & { description?: string };
      params.push({ name, in: 'query', required: schema.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
    }
  }
  const responses: Record<string, unknown> = {};
  for (const [name, description] of Object.entries(route.requestHeaders ?? {})) {
    params.push({ name, in: 'header', required: false, description, schema: { type: 'string' } });
  }
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = {
      ...(response.schema
        ? { description: response.description, content: { 'application/json': { schema: schemaOf(response.schema, 'output') } } }
        : Number(status) >= 400
          ? problemResponse(response.description)
          : { description: response.description }),
      ...(response.headers
        ? { headers: Object.fromEntries(Object.entries(response.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) }
        : {}),
    };
  }
  responses['401'] = problemResponse('Missing, unknown or revoked API key');
  // Every route may answer 403: a key without the scope, or a browser token beyond what it may do.
  responses['403'] = problemResponse(
    route.scope === 'any'
      ? 'A browser token (browser tokens may only track and check)'
      : route.browserToken
        ? `The API key lacks the "${route.scope}" scope, or a browser token acts beyond its own user (browser tokens may only track and check, for their own user_id)`
        : `The API key lacks the "${route.scope}" scope, or a browser token (browser tokens may only track and check)`,
  );
  if (route.body || route.query || pathParamCount > 0) responses['422'] = problemResponse('Invalid fields (a malformed id in the path too), named in `errors`');
  // Every /api/ route checks its path and query bytes before anything else (server/http/app.ts).
  responses['400'] = problemResponse(
    `${route.body ? 'Malformed JSON (malformed-json), or a' : 'A'} path or query whose %-escapes do not decode to UTF-8 (malformed-path, malformed-query)`,
  );
  if (route.body) {
    responses['413'] = problemResponse('Body larger than 1 MB');
    responses['415'] = problemResponse('Body is not application/json');
  }
  if (pathParamCount > 0) responses['404'] = problemResponse('No such object for this creator');
  // The database may not answer on any route; a route that also asks Stripe says so in its own description.
  const own503 = (route.responses as Record<string, { description: string } | undefined>)['503'];
  responses['503'] = unavailableResponse(own503 ? `Database unavailable, or: ${own503.description}; retry after \`Retry-After\` seconds` : 'Database unavailable; retry after `Retry-After` seconds');
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    security: [{ apiKey: [] }],
    'x-required-scope': route.scope,
    ...(params.length ? { parameters: params } : {}),
    ...(route.body
      ? { requestBody: { required: !route.bodyOptional, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } } }
      : {}),
    responses,
  };
}

/** OpenAPI 3.1 for the whole HTTP API, generated from the same zod schemas the handlers use. */
export function buildOpenApiDocument(version: string) {
  const paths: Record<string, Record<string, unknown>> = {
    '/api/health': {
      get: {
        operationId: 'getHealth',
        summary: 'Liveness and database reachability',
        tags: ['Operations'],
        security: [],
        responses: {
          200: { description: 'The database answers', content: { 'application/json': { schema: schemaOf(ZHealth, 'output') } } },
          503: unavailableResponse('The database does not answer'),
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        tags: ['Operations'],
        security: [],
        responses: {
          200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
          401: problemResponse('METRICS_TOKEN is set and this request does not send it as a bearer token'),
          403: problemResponse('METRICS_TOKEN is not set and the client is not on this machine'),
        },
      },
    },
    '/api/stripe/webhooks/{creatorId}': {
      post: {
        operationId: 'receiveStripeWebhook',
        summary: 'Stripe customer.subscription.* events for one creator, authenticated by the Stripe-Signature header (the creator’s webhook_secret)',
        tags: ['Billing'],
        security: [],
        parameters: [
          { name: 'creatorId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
          { name: 'Stripe-Signature', in: 'header', required: true, schema: { type: 'string' } },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'A Stripe event, as Stripe sends it' } } } },
        responses: {
          200: {
            description:
              'Received. outcome: applied (the customer’s Stripe ids and billing period were updated), duplicate (this event was received before), stale (an older event than one already applied), ignored (not a subscription event, or no customer here has its Stripe customer id), other_subscription (the customer is pinned to another subscription’s items), unsupported_interval (not a monthly subscription: nothing changed)',
            content: { 'application/json': { schema: { type: 'object', properties: { received: { type: 'boolean' }, outcome: { type: 'string' } }, required: ['received', 'outcome'] } } },
          },
          400: problemResponse('The signature does not verify, or the delivery is older than 5 minutes; or a path whose %-escapes do not decode'),
          405: problemResponse('A method other than POST (Allow: POST)'),
          413: problemResponse('Body larger than 1 MB'),
          415: problemResponse('A body in a content coding (Content-Encoding other than identity)'),
        },
      },
    },
  };
  for (const route of REST_ROUTES) {
    const path = toOpenApiPath(route.path);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Staryer Usage API',
      version,
      description:
        'Usage tracking and metered billing. Authenticate with `Authorization: Bearer <api key>`; keys carry the scopes `track`, `read` and `admin` (admin implies the others). Every error is RFC 9457 problem JSON.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (su_live_…)' } },
      schemas: { Problem: schemaOf(ZProblem, 'output') },
    },
    'x-problem-statuses': Object.fromEntries(Object.values(ERROR_CATEGORIES).map((c) => [c.status, c.title])),
    paths,
  };
}
