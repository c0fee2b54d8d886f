import type { ApiKeyAuth } from '../db/queries/api-keys.js';
import type { SessionAuth } from '../db/queries/sessions.js';
import type { AppError } from './errors.js';
import type { Runtime } from './runtime.js';
import type { UserToken } from './services/tokens.js';

export type Auth =
  | { kind: 'anonymous' }
  | ({ kind: 'session' } & SessionAuth)
  | ({ kind: 'api_key' } & ApiKeyAuth)
  /** A browser token: tracks and checks for one user_id only. */
  | ({ kind: 'user_token' } & UserToken);

export type ClientInfo = { ip: string; userAgent: string | null };

/** What every tRPC procedure receives, over HTTP and from Remix loaders alike. */
export type Context = {
  rt: Runtime;
  requestId: string;
  client: ClientInfo;
  auth: Auth;
  /** Credentials were presented but refused (unknown or revoked key): procedures that
   * need auth answer with this instead of a generic 401. */
  authError?: AppError;
};
