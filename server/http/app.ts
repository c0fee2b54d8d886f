import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import path from 'node:path';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import FindMyWay from 'find-my-way';
import helmet from 'helmet';
import sirv from 'sirv';
import { sql } from 'drizzle-orm';
import { AppError, forbidden, toAppError, unauthorized, validationError } from '../errors.js';
import { MAX_BATCH } from '../schemas/usage.js';
import { appRouter } from '../root.js';
import { appErrorOf, toTrpcError, trpcResponseMeta } from '../trpc.js';
import type { Runtime } from '../runtime.js';
import { z } from 'zod';
import { receiveStripeWebhook } from '../services/billing.js';
import { jobQueueLag } from '../services/maintenance.js';
import { pooledRandomBytes } from '../services/random-pool.js';
import { isJsonContentType, MAX_BODY_BYTES, readRawBody, readTrpcBody } from './body.js';
import { refuseDuplicateKeys } from './json-keys.js';
import { findAlteredNumbers, restoreAlteredNumbers } from './json-numbers.js';
import { clientInfo, contextFromRequest } from './context.js';
import { buildOpenApiDocument } from './openapi.js';
import { VERSION } from '../version.js';
import { sendJson, sendProblem } from './problem.js';
import { REST_ROUTES, runRestRoute, type RestRoute } from './rest.js';
import { requireUtf8Query } from './validation.js';

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
/** Renders everything that is not API: the Remix dashboard. */
export type PageHandler = (req: IncomingMessage, res: ServerResponse, locals: RequestLocals) => Promise<void>;
export type RequestLocals = { requestId: string; nonce: string };

const require = createRequire(import.meta.url);
const SWAGGER_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** 16 random bytes per request for the CSP nonce, from the pool (not one getrandom call per request). */
const newNonce = (): string => pooledRandomBytes(16).toString('base64');

const NONCE_SLOT = 'N0NCE-SL0T';
/**
 * Helmet's headers, worked out once: its middleware runs against a recording response
 * whose nonce is a placeholder, and each request gets the same headers with its own nonce
 * in the Content-Security-Policy (helmet rebuilt every header on every request).
 */
function cachedHeaders(middleware: ReturnType<typeof helmet>): (res: ServerResponse, nonce: string) => void {
  const headers = new Map<string, string>();
  const recorder = {
    nonce: NONCE_SLOT,
    setHeader: (name: string, value: unknown) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
    getHeader: (name: string) => headers.get(name.toLowerCase()),
  };
  let done = false;
  middleware({ headers: {}, method: 'GET', url: '/' } as IncomingMessage, recorder as unknown as ServerResponse, () => (done = true));
  if (!done) throw new Error('helmet did not finish synchronously');
  const fixed = [...headers].map(([name, value]) => ({ name, value, withNonce: value.includes(NONCE_SLOT) }));
  return (res, nonce) => {
    for (const h of fixed) res.setHeader(h.name, h.withNonce ? h.value.replaceAll(NONCE_SLOT, nonce) : h.value);
  };
}

/** The endpoints a browser SDK calls from the creator's own origin. */
const BROWSER_PATHS = new Set(['/api/usage/track', '/api/usage/check']);

/**
 * The HTTP entry point. API paths (/api/*, /metrics) are served here directly — the
 * Remix request pipeline costs ~30x more per request — and everything else goes to
 * the dashboard.
 */
export function createHttpApp(rt: Runtime, options: { pages?: PageHandler; publicDir?: string }): RequestListener {
  // Path parameters carry user_ids of up to 256 characters, percent-encoded (up to 9
  // characters per UTF-16 unit); find-my-way's default of 100 answered 404 to longer ones.
  // A path find-my-way cannot decode (`%zz`, bytes that are not UTF-8) is found with no store
  // (onBadUrl), and answered 400 rather than "nothing at this path".
  const router = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true, maxParamLength: 256 * 9, onBadUrl: () => undefined });
  for (const route of REST_ROUTES) {
    router.on(route.method, route.path, () => undefined, { route });
  }
  const openApi = JSON.stringify(buildOpenApiDocument(VERSION));

  const bodyRefusals = new WeakMap<IncomingMessage, AppError>();
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/api/trpc/',
    createContext: ({ req }) => {
      // A body refused as it was read (readTrpcBody): every call of the request is answered with it.
      const refused = bodyRefusals.get(req);
      if (refused) throw toTrpcError(refused);
      return contextFromRequest(rt, req, (req as IncomingMessage & { id?: string }).id ?? randomUUID());
    },
    maxBodySize: MAX_BODY_BYTES,
    onError: () => undefined, // logged by the procedure middleware with the request id
    responseMeta: trpcResponseMeta,
  });

  const securityHeaders = cachedHeaders(helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", (_req, res) => `'nonce-${(res as ServerResponse & { nonce?: string }).nonce}'`],
        styleSrc: ["'self'", "'unsafe-inline'"], // chart libraries set inline styles
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
        upgradeInsecureRequests: null,
      },
    },
    strictTransportSecurity: rt.env.COOKIE_SECURE === 'true' ? undefined : false,
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
    xFrameOptions: { action: 'deny' },
  }));

  const statics = options.publicDir
    ? sirv(options.publicDir, {
        etag: true,
        setHeaders: (res, pathname) => {
          // Remix fingerprints everything under /build/.
          if (pathname.startsWith('/build/')) res.setHeader('cache-control', 'public, max-age=31536000, immutable');
        },
      })
    : null;
  const swagger = sirv(SWAGGER_DIR, { etag: true });

  /** Returns the route label for metrics; `labelEarly` sets it before the response finishes. */
  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, nonce: string, labelEarly: (route: string) => void): Promise<string> {
    const url = requestTarget(req);
    const pathname = url.pathname;
    // One trailing slash names the same endpoint, as it does for every REST route (find-my-way's
    // ignoreTrailingSlash): `/api/health/` answered 404, and `/api/usage/track/` was served
    // without the CORS headers the browser SDK needs (its preflight answered 405).
    const endpoint = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
    if (pathname.startsWith('/api/')) requireUtf8Query(req.url!);
    if (endpoint === '/api/health') {
      requireGetOrHead(req, res);
      await health(rt, res, requestId);
      return '/api/health';
    }
    if (endpoint === '/metrics') {
      requireGetOrHead(req, res);
      // Cross-tenant operational figures: for the operator's scraper, not the public.
      metricsAccess(rt, req);
      await metrics(rt, res);
      return '/metrics';
    }
    // Stripe's webhooks authenticate by signature (the creator's whsec_), not by API key.
    const stripeWebhook = /^\/api\/stripe\/webhooks\/([^/]+)$/.exec(pathname);
    if (stripeWebhook && req.method !== 'POST') {
      labelEarly('/api/stripe/webhooks/:creatorId');
      res.setHeader('allow', 'POST');
      throw new AppError('method_not_allowed', { code: 'method_not_allowed', detail: `${req.method} is not allowed here; Stripe delivers its events with POST.` });
    }
    if (stripeWebhook) {
      labelEarly('/api/stripe/webhooks/:creatorId');
      const creatorId = stripeWebhook[1]!;
      const body = await readRawBody(req);
      if (!z.uuid().safeParse(creatorId).success) {
        throw new AppError('bad_request', { code: 'invalid_stripe_signature', detail: 'The Stripe-Signature header does not verify for this body, or it is too old.' });
      }
      const signature = req.headers['stripe-signature'];
      sendJson(res, 200, await receiveStripeWebhook(rt, creatorId, body, typeof signature === 'string' ? signature : undefined));
      return '/api/stripe/webhooks/:creatorId';
    }
    if (endpoint === '/api/openapi.json') {
      requireGetOrHead(req, res);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(openApi);
      return pathname;
    }
    if (pathname === '/api/docs' || pathname === '/api/docs/') {
      requireGetOrHead(req, res);
      sendDocsPage(res, nonce);
      return '/api/docs';
    }
    if (pathname.startsWith('/api/docs/assets/')) {
      requireGetOrHead(req, res);
      req.url = pathname.slice('/api/docs/assets'.length);
      await new Promise<void>((resolve) => swagger(req, res, () => (notFoundProblem(res, requestId), resolve())));
      return '/api/docs/assets';
    }
    // The dashboard's own tRPC calls carry the session cookie and no API key: Remix
    // serves them (app/routes/api.trpc.$.ts), with the session's identity.
    // Queries are GETs and mutations POSTs: any other method is refused before tRPC reads it.
    if (pathname.startsWith('/api/trpc/') && req.method !== 'GET' && req.method !== 'POST') {
      labelEarly('/api/trpc');
      res.setHeader('allow', 'GET, POST');
      sendProblem(res, new AppError('method_not_allowed', { code: 'method_not_allowed', detail: `${req.method} is not allowed here; use GET (queries) or POST (mutations).` }), requestId);
      return '/api/trpc';
    }
    if (pathname.startsWith('/api/trpc/') && options.pages && !req.headers.authorization && /(?:^|;\s*)staryer_session=/.test(req.headers.cookie ?? '')) {
      labelEarly('/api/trpc (session)');
      await options.pages(req, res, { requestId, nonce });
      return '/api/trpc (session)';
    }
    if (pathname.startsWith('/api/trpc/')) {
      labelEarly('/api/trpc');
      // Read here, not by tRPC: with the REST routes' rules for bytes and number literals.
      const batch = url.searchParams.get('batch') === '1';
      if (req.method === 'GET') {
        const refused = exactQueryInput(req, url, batch);
        if (refused) bodyRefusals.set(req, refused);
      }
      if (req.method === 'POST' && isJsonContentType(req)) {
        const withBody = req as IncomingMessage & { body?: unknown };
        try {
          withBody.body = await readTrpcBody(req, { batch });
          if (batch) requireBatchedEventsWithin(pathname, withBody.body);
        } catch (error) {
          withBody.body = '';
          bodyRefusals.set(req, toAppError(error));
        }
      }
      await trpc(req, res);
      return '/api/trpc';
    }
    // Browsers on the creator's own site track and check with a user token (bearer, no
    // cookies), so these two endpoints answer cross-origin requests; nothing else does.
    if (BROWSER_PATHS.has(endpoint)) {
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('access-control-expose-headers', 'idempotent-replayed, retry-after, x-request-id');
      res.setHeader('cross-origin-resource-policy', 'cross-origin');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'authorization, content-type, idempotency-key',
          'access-control-max-age': '86400',
        });
        res.end();
        return 'cors-preflight';
      }
    }
    // `/api` itself is the API's too: a problem JSON 404 as for `/api/`, not the dashboard's HTML page.
    if (pathname.startsWith('/api/') || pathname === '/api') {
      // HEAD is GET without the body (RFC 9110 §9.3.2): Node leaves the body out of the answer.
      const found = router.find((req.method === 'HEAD' ? 'GET' : req.method) as 'GET', pathname);
      const route = (found?.store as { route?: RestRoute } | undefined)?.route;
      if (!found || !route) {
        // Found without a store: a path find-my-way could not percent-decode (onBadUrl above).
        if ((found ?? router.find('GET', pathname))?.store === null) {
          throw new AppError('bad_request', {
            code: 'malformed_path',
            detail: 'The path is not validly percent-encoded: each % must be followed by two hex digits, and the bytes they encode must be UTF-8.',
          });
        }
        // HEAD is served wherever GET is (RFC 9110 §9.3.2), so Allow lists it there too.
        const allowed = REST_ROUTES.filter((r) => router.find(r.method, pathname)?.store?.route === r).flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method]));
        if (allowed.length > 0) {
          res.setHeader('allow', allowed.join(', '));
          sendProblem(res, new AppError('method_not_allowed', { code: 'method_not_allowed', detail: `${req.method} is not allowed here; use ${allowed.join(', ')}.` }), requestId);
        } else notFoundProblem(res, requestId);
        return 'unmatched';
      }
      labelEarly(route.path);
      const ctx = await contextFromRequest(rt, req, requestId);
      const result = await runRestRoute(route, req, ctx, found.params, url.searchParams);
      if (result.body === undefined) {
        res.writeHead(result.status, result.headers);
        res.end();
      } else sendJson(res, result.status, result.body, result.headers);
      return route.path;
    }
    if (statics && (req.method === 'GET' || req.method === 'HEAD')) {
      // sirv (production mode) either answers or calls next, synchronously.
      let passed = false;
      statics(req, res, () => {
        passed = true;
      });
      if (!passed) return 'static';
    }
    if (!options.pages) {
      notFoundProblem(res, requestId);
      return 'unmatched';
    }
    labelEarly('page');
    await options.pages(req, res, { requestId, nonce });
    return 'page';
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    const nonce = newNonce();
    (req as IncomingMessage & { id?: string }).id = requestId;
    (res as ServerResponse & { nonce?: string }).nonce = nonce;
    res.setHeader('x-request-id', requestId);
    let route = 'unmatched';
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      rt.metrics.httpRequests.inc({ method: req.method ?? 'GET', route, status: String(res.statusCode) });
      rt.metrics.httpDuration.observe({ method: req.method ?? 'GET', route }, seconds);
      const level = res.statusCode >= 500 ? 'error' : route === 'static' ? 'debug' : 'info';
      rt.log[level]({ requestId, method: req.method, path: req.url, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 }, 'request');
    });
    securityHeaders(res, nonce);
    handle(req, res, requestId, nonce, (label) => (route = label))
      .then((matched) => (route = matched))
      .catch((error: unknown) => {
        const appError = error instanceof TRPCError ? appErrorOf(error) : toAppError(error);
        if (appError.category === 'internal') rt.log.error({ err: error, requestId }, 'request failed');
        if (res.headersSent) res.destroy();
        else {
          // Refused before the body was read to the end (413, 415, 401…): close the
          // connection rather than drain an upload of any size, or leave the client a
          // keep-alive socket still carrying the rest of it.
          if (!req.complete) res.setHeader('connection', 'close');
          sendProblem(res, appError, requestId);
        }
      });
  };
}

const ORIGIN = 'http://localhost';

/**
 * A tRPC batch (`usage.trackBatch,usage.trackBatch?batch=1`) holds at most MAX_BATCH events in
 * all, as one REST request does: each call was judged alone, so one request of 1 MB recorded
 * 30,000 events past the documented "≤ 1,000 per request".
 */
function requireBatchedEventsWithin(pathname: string, body: unknown): void {
  const procedures = pathname.slice('/api/trpc/'.length).split(',');
  if (!procedures.some((p) => p === 'usage.track' || p === 'usage.trackBatch')) return;
  let inputs: unknown;
  try {
    inputs = typeof body === 'string' ? JSON.parse(body) : body;
  } catch {
    return; // tRPC answers the malformed body
  }
  if (typeof inputs !== 'object' || inputs === null) return;
  let events = 0;
  procedures.forEach((procedure, index) => {
    const input = (inputs as Record<string, unknown>)[String(index)];
    if (procedure === 'usage.track') events += 1;
    else if (procedure === 'usage.trackBatch' && Array.isArray(input)) events += input.length;
  });
  if (events > MAX_BATCH) {
    throw validationError([{ field: '(body)', message: `holds ${events} events across its calls; a request holds at most ${MAX_BATCH} (send the rest in another request)` }]);
  }
}

/**
 * A tRPC query's `?input=` with its number literals kept as written, as a POST body's are:
 * tRPC parses it as doubles (`12345678.123456789` became `…79`, and usage.check judged another
 * value than its REST twin). A literal a double would alter is written back as its decimal
 * string, which decimal fields read exactly and other fields refuse or read as digits. A key
 * written twice in one object is refused, as in a body.
 */
function exactQueryInput(req: IncomingMessage, url: URL, batch: boolean): AppError | null {
  const input = url.searchParams.get('input');
  if (input === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(input);
  } catch {
    return null; // tRPC answers the malformed input
  }
  try {
    refuseDuplicateKeys(input, parsed);
    const altered = findAlteredNumbers(input);
    if (altered.length === 0) return null;
    const exact = restoreAlteredNumbers(input, altered, { inputs: batch ? 'members' : 'root' });
    url.searchParams.set('input', JSON.stringify(exact));
    req.url = `${url.pathname}${url.search}`;
    return null;
  } catch (error) {
    return toAppError(error);
  }
}

/**
 * The request target as a URL: its path and query only, never a host. `//x/…` and `/\x/…` are
 * refused (400), as every URL reader after this one (Remix's, tRPC's) takes `x` for a host, and
 * so is a target that is no path at all (`*`, `//[`). An absolute-form target (`http://host/p?q`,
 * RFC 9112 §3.2.2) counts for its path and query, which become req.url for the readers after us.
 */
function requestTarget(req: IncomingMessage): URL {
  const raw = req.url ?? '/';
  const second = raw.charCodeAt(1);
  try {
    if (raw.charCodeAt(0) === 47 && second !== 47 && second !== 92) return new URL(raw, ORIGIN); // '/', not '//' or '/\'
    const absolute = raw.charCodeAt(0) === 47 ? null : URL.parse(raw);
    if (absolute && (absolute.protocol === 'http:' || absolute.protocol === 'https:') && !absolute.pathname.startsWith('//')) {
      req.url = absolute.pathname + absolute.search;
      return new URL(req.url, ORIGIN);
    }
  } catch {
    // not a URL: refused below
  }
  throw new AppError('bad_request', {
    code: 'invalid_request_target',
    detail: 'The request target must be a path that starts with a single "/" (or an absolute http URL).',
  });
}

/** The operational endpoints are read-only: any method but GET and HEAD is answered 405. */
function requireGetOrHead(req: IncomingMessage, res: ServerResponse) {
  if (req.method === 'GET' || req.method === 'HEAD') return;
  res.setHeader('allow', 'GET, HEAD');
  throw new AppError('method_not_allowed', { code: 'method_not_allowed', detail: `${req.method} is not allowed here; use GET or HEAD.` });
}

function notFoundProblem(res: ServerResponse, requestId: string) {
  sendProblem(res, new AppError('not_found', { code: 'not_found', detail: 'There is nothing at this path.' }), requestId);
}

async function health(rt: Runtime, res: ServerResponse, requestId: string) {
  try {
    await withTimeout(rt.ping(), 2_000);
    sendJson(res, 200, { status: 'ok' });
  } catch (error) {
    rt.log.warn({ err: error, requestId }, 'health check: database unavailable');
    sendProblem(res, new AppError('unavailable', { code: 'database_unavailable', detail: 'The database does not answer.', retryAfter: 5 }), requestId);
  }
}

const LOOPBACK = /^(?:127\.|::1$|::ffff:127\.)/;

/** METRICS_TOKEN as a bearer token when it is set; otherwise a loopback client (behind TRUST_PROXY: the forwarded one). */
function metricsAccess(rt: Runtime, req: IncomingMessage) {
  const expected = rt.env.METRICS_TOKEN;
  if (expected) {
    const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(expected).digest();
    if (!timingSafeEqual(a, b)) throw unauthorized('Send METRICS_TOKEN as "Authorization: Bearer <token>".');
    return;
  }
  if (!LOOPBACK.test(clientInfo(rt, req).ip)) throw forbidden('/metrics answers only this machine unless METRICS_TOKEN is set.');
}

async function metrics(rt: Runtime, res: ServerResponse) {
  const { metrics: m } = rt;
  try {
    const started = process.hrtime.bigint();
    await withTimeout(rt.ping(), 1_000);
    m.dbPingSeconds.set(Number(process.hrtime.bigint() - started) / 1e9);
    m.dbUp.set(1);
    // The owner sees every session's state; the application role only its own.
    const states = await rt.ownerDb.execute<{ state: string | null; n: number }>(
      sql`select coalesce(state, 'unknown') as state, count(*)::int as n from pg_stat_activity where application_name = 'staryer-usage' group by 1`,
    );
    m.dbConnections.reset();
    for (const row of states) m.dbConnections.set({ state: row.state ?? 'unknown' }, row.n);
    m.queueDepth.reset();
    m.queueOldestReady.reset();
    m.queueFailed.reset();
    const ages = await jobQueueLag(rt);
    for (const queue of await rt.boss.getQueues()) {
      m.queueDepth.set({ queue: queue.name }, queue.queuedCount);
      m.queueOldestReady.set({ queue: queue.name }, ages.get(queue.name) ?? 0);
      m.queueFailed.set({ queue: queue.name }, queue.failedCount);
    }
  } catch (error) {
    m.dbUp.set(0);
    rt.log.warn({ err: error }, 'metrics: database probe failed');
  }
  const text = await m.registry.metrics();
  res.writeHead(200, { 'content-type': m.registry.contentType, 'cache-control': 'no-store' });
  res.end(text);
}

function sendDocsPage(res: ServerResponse, nonce: string) {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Staryer Usage API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js" nonce="${nonce}"></script>
<script nonce="${nonce}">window.ui = SwaggerUIBundle({ url: '/api/openapi.json', dom_id: '#swagger-ui', deepLinking: true });</script>
</body></html>`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
  res.end(html);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error)),
    );
  });
}
