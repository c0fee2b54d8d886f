import type { ActionFunctionArgs, LoaderFunctionArgs } from '@remix-run/node';
import { readSessionToken } from '~/lib/session.server';

/**
 * tRPC over the fetch adapter for the dashboard's own browser calls, authenticated by
 * the session cookie. API-key traffic to /api/trpc never reaches Remix: the HTTP server
 * answers it directly (docs/decisions/0004-http-fast-path.md).
 */
function handle({ request, context }: LoaderFunctionArgs | ActionFunctionArgs) {
  // A cookie-authenticated mutation must come from our own pages.
  const origin = request.headers.get('origin');
  if (request.method !== 'GET' && origin && URL.parse(origin)?.host !== new URL(request.url).host) {
    return new Response(JSON.stringify({ type: 'https://staryer.dev/problems/forbidden', title: 'Forbidden', status: 403, detail: 'Cross-site request refused.' }), {
      status: 403,
      headers: { 'content-type': 'application/problem+json' },
    });
  }
  return context.trpc(request, readSessionToken(request));
}

export const loader = handle;
export const action = handle;
