import { createTRPCClient, httpBatchLink, type TRPCClient } from '@trpc/client';
import { Credentials, type TokenResult } from './credentials';
import { UsageError, errorFromProblem, redirectError } from './errors';
import { checkQuery, MAX_DELAY, numberOption, validateCheck, type CheckInput } from './tracker';
import type { UsageCheckOutput, UsageRouter } from './router.generated';

export type UsageClientOptions = {
  /** The server's root, e.g. `https://usage.example.com`. */
  baseURL: string;
  /** An API key; its scopes decide which procedures answer (others answer FORBIDDEN). */
  apiKey?: string;
  /** Instead of a key (browser): a user token, which can only track and check for its user. */
  getToken?: () => TokenResult | Promise<TokenResult>;
  /** How long `getToken` may take before the call that needs it fails (`token-unavailable`). Default 10 s; 0: no limit, as the tracker's `timeout`. */
  tokenTimeout?: number;
  /** Your own fetch. Default: the global fetch. */
  fetch?: typeof fetch;
};

/** Every procedure of the server's API, typed end to end, plus {@link UsageClient.checkUsage}. */
export type UsageClient = TRPCClient<UsageRouter> & {
  /**
   * Would an event of `value` (default 1) be accepted now? Records nothing. Rejects with
   * a `UsageError` carrying the server's problem. Asked over REST (`GET /api/usage/check`,
   * as the tracker asks), which — unlike `/api/trpc` — answers pages on other origins.
   */
  checkUsage: (input: CheckInput) => Promise<UsageCheckOutput>;
};

/**
 * A typed tRPC client for `${baseURL}/api/trpc`: `client.meters.create.mutate({…})`,
 * `client.customers.usage.query({ user_id })`… Calls made together go in one request.
 * Failures are `TRPCClientError`s whose `data.problem` is the server's RFC 9457 problem.
 */
export function createUsageClient(options: UsageClientOptions): UsageClient {
  const baseURL = options.baseURL.replace(/\/+$/, '');
  // The client's credentials are its own: no creator to check a token against.
  // A getToken that never settles must not hold every call for good (as in the tracker).
  // Read as the tracker reads its timeout: 0 is none, NaN the default, past setTimeout's reach its longest.
  const tokenTimeout = numberOption(options.tokenTimeout, 10_000, 0, MAX_DELAY);
  const credentials = new Credentials({ creatorId: '', apiKey: options.apiKey, getToken: options.getToken, timeout: tokenTimeout > 0 ? tokenTimeout : undefined });
  // Redirects are not followed (redirectError): the failed call names where baseURL points.
  const send: typeof fetch = async (input, init) => {
    const response = await (options.fetch ?? fetch)(input, { ...init, redirect: 'manual' });
    const redirected = redirectError(response, baseURL);
    if (!redirected) return response;
    await response.body?.cancel().catch(() => undefined);
    throw redirected;
  };
  // A token the server refuses (401: expired early, a rotated secret) is asked for again
  // once and the request sent again with the fresh one, as the tracker does (ADR 0012).
  // `userId`: whom the request is about, when it is about one user (checkUsage).
  const fetchWithFreshToken = async (input: Parameters<typeof fetch>[0], init?: RequestInit, userId?: string): Promise<Response> => {
    const response = await send(input, init);
    if (response.status !== 401 || credentials.kind !== 'token') return response;
    await response.body?.cancel().catch(() => undefined);
    const headers = new Headers(init?.headers);
    credentials.invalidate(headers.get('authorization')?.replace(/^Bearer /, ''));
    headers.set('authorization', `Bearer ${await credentials.bearer(userId)}`);
    return send(input, { ...init, headers });
  };
  const trpc = createTRPCClient<UsageRouter>({
    links: [
      httpBatchLink({
        url: `${baseURL}/api/trpc`,
        maxURLLength: 2083,
        headers: async () => ({ authorization: `Bearer ${await credentials.bearer()}` }),
        fetch: (input, init) => fetchWithFreshToken(input, init),
      }),
    ],
  });
  // Over REST (GET /api/usage/check), as the tracker asks: the same schema, service and
  // answer as tRPC's usage.check, and — unlike /api/trpc — it answers the CORS preflight
  // of a page on another origin, which is where a user token is used.
  const checkUsage: UsageClient['checkUsage'] = async (input) => {
    const invalid = validateCheck(input);
    if (invalid) throw invalid;
    const { userId } = input;
    const query = checkQuery(input);
    let response: Response;
    let text: string;
    try {
      // A user token acts for one user: one for another user is asked for again (as in the tracker).
      const bearer = await credentials.bearer(userId);
      response = await fetchWithFreshToken(`${baseURL}/api/usage/check?${query}`, { method: 'GET', headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' } }, userId);
      text = await response.text();
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`Could not check usage: ${error instanceof Error ? error.message : String(error)}`, { code: 'network', cause: error });
    }
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (response.status !== 200) throw errorFromProblem(response.status, body);
    return body as UsageCheckOutput;
  };
  // The tRPC client is a proxy that makes a procedure path of any property; checkUsage
  // is answered before it.
  return new Proxy(trpc, {
    get: (target, property, receiver) => (property === 'checkUsage' ? checkUsage : Reflect.get(target, property, receiver)),
  }) as UsageClient;
}
