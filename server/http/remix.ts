import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequest, sendResponse } from '@mjackson/node-fetch-server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { createRequestHandler, type AppLoadContext, type ServerBuild } from '@remix-run/node';
import type { Context } from '../context.js';
import { AppError, forbidden } from '../errors.js';
import { appRouter, createCaller } from '../root.js';
import type { SessionAuth } from '../services/sessions.js';
import type { Runtime } from '../runtime.js';
import { trpcResponseMeta } from '../trpc.js';
import { isValidCsrfToken } from '../services/csrf.js';
import { authenticateSession } from '../services/sessions.js';
import type { PageHandler, RequestLocals } from './app.js';
import { readRawBody } from './body.js';
import { clientInfo, isSecureRequest } from './context.js';
import { sendProblem, toProblem } from './problem.js';

/** The header a cookie-authenticated tRPC mutation carries the session's CSRF secret in. */
export const CSRF_HEADER = 'x-csrf-token';

function isSameSite(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (!origin) return true; // not a browser form; CSRF tokens still apply
  const host = req.headers['x-forwarded-host'] ?? req.headers.host;
  return URL.parse(origin)?.host === host;
}

/**
 * The fetch Request Remix handles. A body is read here first, within the API's limit
 * (413 past 1 MB, the connection then closed): Remix would take a body of any size into
 * memory.
 */
async function requestOf(req: IncomingMessage, res: ServerResponse): Promise<Request> {
  if (req.method === 'GET' || req.method === 'HEAD') return createRequest(req, res);
  const body = await readRawBody(req);
  const { url, method, headers, signal } = createRequest(req, res);
  return new Request(url, { method, headers, signal, body: new Uint8Array(body) });
}

/**
 * The dashboard: Remix renders pages, and its loaders and actions reach our services
 * only through the tRPC caller handed over in the load context — one process, one
 * pool, one set of rules.
 */
export function createRemixPages(rt: Runtime, build: ServerBuild): PageHandler {
  // Always production mode: development mode would send stack traces to the browser.
  const handleRequest = createRequestHandler(build, 'production');
  return async (req: IncomingMessage, res: ServerResponse, locals: RequestLocals) => {
    // A state-changing request from another site is refused here with a proper 403;
    // Remix's own check would answer an empty 500.
    if (req.method !== 'GET' && req.method !== 'HEAD' && !isSameSite(req)) {
      sendProblem(res, forbidden('Cross-site request refused.'), locals.requestId);
      return;
    }
    const request = await requestOf(req, res);
    const client = clientInfo(rt, req);
    const contextFor = async (sessionToken: string | null): Promise<{ ctx: Context; session: SessionAuth | null }> => {
      const session = sessionToken ? await authenticateSession(rt, sessionToken) : null;
      const ctx: Context = {
        rt,
        requestId: locals.requestId,
        client,
        auth: session ? { kind: 'session', ...session } : { kind: 'anonymous' },
      };
      return { ctx, session };
    };
    const context: AppLoadContext = {
      requestId: locals.requestId,
      nonce: locals.nonce,
      client,
      secureCookies: isSecureRequest(rt, req),
      caller: async (sessionToken) => {
        const { ctx, session } = await contextFor(sessionToken);
        return { caller: createCaller(ctx), session };
      },
      trpc: async (fetchRequest, sessionToken) => {
        const { ctx, session } = await contextFor(sessionToken);
        // A cookie-authenticated mutation also carries the session's CSRF secret in a header,
        // which a page of another site cannot read: defense in depth behind SameSite=Lax and
        // the Origin check above (a request without Origin passes that one).
        if (session && fetchRequest.method !== 'GET' && !isValidCsrfToken(session, fetchRequest.headers.get(CSRF_HEADER))) {
          const refused = new AppError('forbidden', {
            code: 'csrf_token_invalid',
            detail: `A tRPC mutation made with the session cookie must send the session's CSRF token in the ${CSRF_HEADER} header.`,
          });
          return new Response(JSON.stringify(toProblem(refused, locals.requestId)), {
            status: 403,
            headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
          });
        }
        return fetchRequestHandler({
          endpoint: '/api/trpc',
          req: fetchRequest,
          router: appRouter,
          createContext: () => ctx,
          onError: () => undefined, // logged by the procedure middleware
          responseMeta: trpcResponseMeta,
        });
      },
    };
    await sendResponse(res, await handleRequest(request, context));
  };
}
