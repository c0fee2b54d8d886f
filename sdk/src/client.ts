import { createTRPCClient, httpBatchLink, isTRPCClientError, type TRPCClient } from '@trpc/client';
import { Credentials, type TokenResult } from './credentials';
import { UsageError, errorFromProblem } from './errors';
import { toWireValue } from './tracker';
import type { UsageCheckOutput, UsageRouter } from './router.generated';

export type UsageClientOptions = {
  /** The server's root, e.g. `https://usage.example.com`. */
  baseURL: string;
  /** An API key; its scopes decide which procedures answer (others answer FORBIDDEN). */
  apiKey?: string;
  /** Instead of a key (browser): a user token, which can only track and check for its user. */
  getToken?: () => TokenResult | Promise<TokenResult>;
  /** How long `getToken` may take before the call that needs it fails (`token-unavailable`). Default 10 s. */
  tokenTimeout?: number;
  /** Your own fetch. Default: the global fetch. */
  fetch?: typeof fetch;
};

/** Every procedure of the server's API, typed end to end, plus {@link UsageClient.checkUsage}. */
export type UsageClient = TRPCClient<UsageRouter> & {
  /**
   * Would an event of `value` (default 1) be accepted now? Records nothing. Rejects with
   * a `UsageError` carrying the server's problem.
   */
  checkUsage: (input: { userId: string; eventName: string; value?: number | string }) => Promise<UsageCheckOutput>;
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
  const credentials = new Credentials({ creatorId: '', apiKey: options.apiKey, getToken: options.getToken, timeout: options.tokenTimeout ?? 10_000 });
  const send: typeof fetch = (input, init) => (options.fetch ?? fetch)(input, init);
  // A token the server refuses (401: expired early, a rotated secret) is asked for again
  // once and the request sent again with the fresh one, as the tracker does (ADR 0012).
  const fetchWithFreshToken: typeof fetch = async (input, init) => {
    const response = await send(input, init);
    if (response.status !== 401 || credentials.kind !== 'token') return response;
    await response.body?.cancel().catch(() => undefined);
    const headers = new Headers(init?.headers);
    credentials.invalidate(headers.get('authorization')?.replace(/^Bearer /, ''));
    headers.set('authorization', `Bearer ${await credentials.bearer()}`);
    return send(input, { ...init, headers });
  };
  const trpc = createTRPCClient<UsageRouter>({
    links: [
      httpBatchLink({
        url: `${baseURL}/api/trpc`,
        maxURLLength: 2083,
        headers: async () => ({ authorization: `Bearer ${await credentials.bearer()}` }),
        fetch: fetchWithFreshToken,
      }),
    ],
  });
  const checkUsage: UsageClient['checkUsage'] = async ({ userId, eventName, value }) => {
    try {
      // Rounded as the tracker rounds it: the server refuses more than 9 decimal places.
      return await trpc.usage.check.query({ user_id: userId, event_name: eventName, ...(value === undefined ? {} : { value: toWireValue(value) }) });
    } catch (error) {
      if (isTRPCClientError<UsageRouter>(error) && error.data?.problem) throw errorFromProblem(error.data.problem.status, error.data.problem);
      // The credentials' own failure (getToken), carried through the tRPC client.
      const cause = (error as { cause?: unknown } | null)?.cause;
      if (cause instanceof UsageError) throw cause;
      if (error instanceof UsageError) throw error;
      throw new UsageError(`Could not check usage: ${error instanceof Error ? error.message : String(error)}`, { code: 'network', cause: error });
    }
  };
  // The tRPC client is a proxy that makes a procedure path of any property; checkUsage
  // is answered before it.
  return new Proxy(trpc, {
    get: (target, property, receiver) => (property === 'checkUsage' ? checkUsage : Reflect.get(target, property, receiver)),
  }) as UsageClient;
}
