import type { ClientInfo } from '../../server/context.js';
import type { Caller } from '../../server/root.js';
import type { SessionAuth } from '../../server/services/sessions.js';

export type { Caller, SessionAuth };

declare module '@remix-run/server-runtime' {
  /** Handed to every loader and action by server/http/remix.ts. */
  interface AppLoadContext {
    requestId: string;
    /** CSP nonce for inline scripts of this response. */
    nonce: string;
    client: ClientInfo;
    /** Whether cookies must be Secure (https, directly or behind a trusted proxy). */
    secureCookies: boolean;
    /** A tRPC caller authenticated by the session token (when it is valid). */
    caller: (sessionToken: string | null) => Promise<{ caller: Caller; session: SessionAuth | null }>;
    /** Serves a tRPC request over the fetch adapter, authenticated by the session cookie
     * (the dashboard's own live calls; API-key calls take the fast path in server/http/app.ts). */
    trpc: (request: Request, sessionToken: string | null) => Promise<Response>;
  }
}
