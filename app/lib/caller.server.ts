import { redirect, type AppLoadContext } from '@remix-run/node';
import './load-context.js';
import type { Caller, SessionAuth } from './load-context.js';
import { readSessionToken } from './session.server.js';

/** The tRPC caller for this request, as the logged-in creator when there is one. */
export async function getCaller(request: Request, context: AppLoadContext): Promise<{ caller: Caller; session: SessionAuth | null }> {
  return context.caller(readSessionToken(request));
}

/** Loaders and actions behind login: a caller and session, or a redirect to /login. */
export async function requireCreator(request: Request, context: AppLoadContext): Promise<{ caller: Caller; session: SessionAuth }> {
  const { caller, session } = await getCaller(request, context);
  if (!session) {
    const url = new URL(request.url);
    throw redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`);
  }
  return { caller, session };
}
