import type { IncomingMessage } from 'node:http';
import type { Auth, ClientInfo, Context } from '../context.js';
import { AppError, unauthorized } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { authenticateApiKey } from '../services/api-keys.js';
import { authenticateUserToken, looksLikeUserToken } from '../services/tokens.js';

/**
 * The entry of a forwarded header that the outermost trusted proxy added: the `hops`-th
 * from the end. Proxies append to what they receive (nginx's $proxy_add_x_forwarded_for),
 * so entries further left are the client's to choose — "X-Forwarded-For: 127.0.0.1" would
 * pass for this machine. With fewer entries than proxies, the leftmost there is.
 */
const forwardedBy = (value: string | string[] | undefined, hops: number) => {
  const entries = String(value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries[Math.max(0, entries.length - hops)] ?? '';
};

export function clientInfo(rt: Runtime, req: IncomingMessage): ClientInfo {
  const forwarded = rt.env.TRUST_PROXY > 0 ? forwardedBy(req.headers['x-forwarded-for'], rt.env.TRUST_PROXY) : '';
  return {
    ip: forwarded || req.socket.remoteAddress || 'unknown',
    userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
  };
}

export function isSecureRequest(rt: Runtime, req: IncomingMessage): boolean {
  if (rt.env.COOKIE_SECURE !== 'auto') return rt.env.COOKIE_SECURE === 'true';
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  return rt.env.TRUST_PROXY > 0 && forwardedBy(req.headers['x-forwarded-proto'], rt.env.TRUST_PROXY) === 'https';
}

/** Authorization: Bearer <api key>. No header → anonymous (procedures decide); a bad key → 401. */
export async function authFromHeaders(rt: Runtime, req: IncomingMessage): Promise<Auth> {
  const header = req.headers.authorization;
  if (!header) return { kind: 'anonymous' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthorized('Send the API key as "Authorization: Bearer <key>".');
  const bearer = match[1]!;
  if (looksLikeUserToken(bearer)) return { kind: 'user_token', ...(await authenticateUserToken(rt, bearer)) };
  return { kind: 'api_key', ...(await authenticateApiKey(rt, bearer)) };
}

/** Never throws for bad credentials: they become ctx.authError, answered by the procedure. */
export async function contextFromRequest(rt: Runtime, req: IncomingMessage, requestId: string): Promise<Context> {
  const client = clientInfo(rt, req);
  try {
    return { rt, requestId, client, auth: await authFromHeaders(rt, req) };
  } catch (error) {
    if (error instanceof AppError && error.category === 'unauthorized') return { rt, requestId, client, auth: { kind: 'anonymous' }, authError: error };
    throw error;
  }
}
