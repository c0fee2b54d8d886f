import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequest, sendResponse } from '@mjackson/node-fetch-server';
import { createRequestHandler, type AppLoadContext, type ServerBuild } from '@remix-run/node';
import type { Context } from '../context.js';
import { createCaller } from '../root.js';
import type { Runtime } from '../runtime.js';
import { authenticateSession } from '../services/sessions.js';
import type { PageHandler, RequestLocals } from './app.js';
import { clientInfo, isSecureRequest } from './context.js';

/**
 * The dashboard: Remix renders pages, and its loaders and actions reach our services
 * only through the tRPC caller handed over in the load context — one process, one
 * pool, one set of rules.
 */
export function createRemixPages(rt: Runtime, build: ServerBuild): PageHandler {
  // Always production mode: development mode would send stack traces to the browser.
  const handleRequest = createRequestHandler(build, 'production');
  return async (req: IncomingMessage, res: ServerResponse, locals: RequestLocals) => {
    const request = createRequest(req, res);
    const client = clientInfo(rt, req);
    const context: AppLoadContext = {
      requestId: locals.requestId,
      nonce: locals.nonce,
      client,
      secureCookies: isSecureRequest(rt, req),
      caller: async (sessionToken) => {
        const session = sessionToken ? await authenticateSession(rt, sessionToken) : null;
        const ctx: Context = {
          rt,
          requestId: locals.requestId,
          client,
          auth: session ? { kind: 'session', ...session } : { kind: 'anonymous' },
        };
        return { caller: createCaller(ctx), session };
      },
    };
    await sendResponse(res, await handleRequest(request, context));
  };
}
