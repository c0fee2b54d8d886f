import { UsageError } from './errors';
import { isBrowser, nodeProcess, warnOnce } from './env';

/** What `getToken` may return: the token, or the body of `POST /api/usage/tokens` as is. */
export type TokenResult = string | { token: string; expires_at?: string };

export type CredentialOptions = {
  creatorId: string;
  apiKey?: string;
  getToken?: () => TokenResult | Promise<TokenResult>;
  /** How long getToken may take before the request that needs it fails (`token-unavailable`). Default: none. */
  timeout?: number;
};

/** A token from getToken; `sub` is the user it acts for, when the token says. */
type CachedToken = { token: string; sub?: string; refreshAt: number };

/** Whether a token may act for `userId` (unknown user on either side: left to the server). */
const isFor = (token: CachedToken, userId: string | undefined) => userId === undefined || token.sub === undefined || token.sub === userId;

/** Refresh this long before a token expires, so no request carries an expiring one. */
const EXPIRY_MARGIN_MS = 30_000;

/**
 * The `Authorization` header of each request: an API key (server side; also read from
 * STARYER_API_KEY in Node when none is given) or a short-lived user token from
 * `getToken`, cached until shortly before it expires.
 */
export class Credentials {
  readonly kind: 'api_key' | 'token' | 'none';
  private readonly apiKey?: string;
  private readonly getToken?: CredentialOptions['getToken'];
  private cached: CachedToken | null = null;
  private fetching: Promise<CachedToken> | null = null;

  constructor(private readonly options: CredentialOptions) {
    const apiKey = options.apiKey ?? (isBrowser() ? undefined : nodeProcess()?.env?.STARYER_API_KEY);
    this.getToken = options.getToken;
    if (this.getToken) {
      this.kind = 'token';
      if (options.apiKey) warnOnce('both', 'Both apiKey and getToken were given; the token is used.');
    } else if (apiKey) {
      this.kind = 'api_key';
      this.apiKey = apiKey;
    } else this.kind = 'none';

    if (isBrowser() && options.apiKey) {
      warnOnce(
        'browser-key',
        '⚠️ An API KEY WAS GIVEN IN A BROWSER. Everyone who loads this page can read it and use it ' +
          'against your account. Mint a short-lived user token on your backend (POST /api/usage/tokens) ' +
          'and pass `getToken` to initUsageTracking instead.',
      );
    }
    if (this.kind === 'none') {
      warnOnce(
        'no-credentials',
        isBrowser()
          ? 'No getToken was given: events cannot be sent. Pass getToken, returning a token your backend mints with POST /api/usage/tokens.'
          : 'No apiKey was given and STARYER_API_KEY is not set: events cannot be sent.',
      );
    }
  }

  /**
   * The bearer value, or an error for the caller to settle events with. `userId`: the
   * user the request tracks or checks for. A user token may only act for its own user
   * (its `sub`): when another user is named (the page signed someone else in), the cached
   * token is dropped and getToken asked again; if the fresh token still names another
   * user, this rejects with `token-user-mismatch`.
   */
  async bearer(userId?: string): Promise<string> {
    if (this.kind === 'api_key') return this.apiKey!;
    if (this.kind === 'none') throw new UsageError('No credentials: pass apiKey (server side) or getToken (browser).', { code: 'no-credentials' });
    const cached = this.cached;
    if (cached && Date.now() < cached.refreshAt && isFor(cached, userId)) return cached.token;
    if (cached && !isFor(cached, userId)) this.invalidate(cached.token);
    const joined = this.fetching !== null;
    let fetched = await this.fetchOnce();
    if (!isFor(fetched, userId) && joined) {
      // The getToken call joined may have started before the page signed another user
      // in: one more call, started now, tells who is signed in.
      this.invalidate(fetched.token);
      fetched = await this.fetchOnce();
    }
    if (!isFor(fetched, userId)) {
      throw new UsageError(`getToken returned a token for user ${fetched.sub}, not for ${userId}: a user token may only track and check usage for its own user.`, { code: 'token-user-mismatch' });
    }
    return fetched.token;
  }

  /**
   * Forget the cached token (after a 401): the next request asks getToken again. Given
   * the refused token, only that one is forgotten, not a fresh one fetched meanwhile.
   */
  invalidate(refused?: string): void {
    if (refused === undefined || this.cached?.token === refused) this.cached = null;
  }

  /** One request to the creator's backend however many callers wait. */
  private fetchOnce(): Promise<CachedToken> {
    this.fetching ??= this.fetchToken().finally(() => {
      this.fetching = null;
    });
    return this.fetching;
  }

  private async fetchToken(): Promise<CachedToken> {
    let result: TokenResult;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A getToken that never settles (a fetch on a stalled connection) must not hold every
      // request for good: past the timeout the waiting requests fail and are retried, and
      // the next one asks getToken again (fetching is cleared when this settles).
      const timeout = this.options.timeout;
      const answered = Promise.resolve().then(() => this.getToken!());
      answered.catch(() => undefined); // a late failure after the timeout is nobody's to hear
      result =
        timeout === undefined
          ? await answered
          : await Promise.race([
              answered,
              new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new Error(`no answer in ${timeout} ms`)), timeout);
              }),
            ]);
    } catch (cause) {
      throw new UsageError(`getToken failed: ${cause instanceof Error ? cause.message : String(cause)}`, { code: 'token-unavailable', cause });
    } finally {
      clearTimeout(timer);
    }
    const token = typeof result === 'string' ? result : result?.token;
    if (typeof token !== 'string' || token === '') throw new UsageError('getToken returned no token.', { code: 'token-unavailable' });
    const claims = decodeClaims(token);
    // The typed client has no creatorId to check against ('').
    if (claims?.cid && this.options.creatorId && claims.cid !== this.options.creatorId) {
      warnOnce('creator-mismatch', `The token belongs to creator ${claims.cid}, but initUsageTracking was given creatorId ${this.options.creatorId}.`);
    }
    const now = Date.now();
    // How long it lives, by the server's clock when the token says (issued → expiry): a
    // client clock ahead by more than that would otherwise find every token expired at once
    // and ask getToken before every request. Else its expiry against this clock; unknown:
    // kept until the server refuses it (401).
    const expiresAt = typeof result === 'object' && result.expires_at ? Date.parse(result.expires_at) : claims?.exp ? claims.exp * 1000 : NaN;
    const lifetime = claims?.exp !== undefined && claims.iat !== undefined ? (claims.exp - claims.iat) * 1000 : Number.isFinite(expiresAt) ? expiresAt - now : Infinity;
    this.cached = { token, sub: claims?.sub, refreshAt: now + Math.max(0, lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 2)) };
    return this.cached;
  }
}

/** The claims of a JWT, unverified (the server verifies): `cid` is the creator, `sub` the user, `exp` the expiry. */
function decodeClaims(token: string): { cid?: string; sub?: string; exp?: number; iat?: number } | null {
  const payload = token.split('.')[1];
  if (!payload || typeof atob !== 'function') return null;
  try {
    // atob gives one character per byte: the claims are UTF-8 (a user_id "josé" is 5 bytes).
    const bytes = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const json = new TextDecoder().decode(Uint8Array.from(bytes, (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json) as { cid?: unknown; sub?: unknown; exp?: unknown; iat?: unknown };
    const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    return { cid: text(claims.cid), sub: text(claims.sub), exp: number(claims.exp), iat: number(claims.iat) };
  } catch {
    return null;
  }
}
