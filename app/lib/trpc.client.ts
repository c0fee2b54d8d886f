import { createTRPCClient, httpBatchLink } from '@trpc/client';
import type { AppRouter } from '../../server/root.js';

/**
 * The dashboard's typed tRPC client in the browser: same procedures and types as the
 * loaders' server-side caller, authenticated by the session cookie (same origin).
 */
export const trpc = createTRPCClient<AppRouter>({
  links: [httpBatchLink({ url: '/api/trpc', fetch: (input, init) => fetch(input, { ...init, credentials: 'same-origin' }) })],
});
