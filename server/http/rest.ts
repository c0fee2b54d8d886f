import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { ApiKeyScope } from '../../db/schema.js';
import type { Context } from '../context.js';
import { unauthorized } from '../errors.js';
import { createCaller, type Caller } from '../root.js';
import { ZApiKey, ZApiKeyList, ZCreateApiKeyInput, ZCreatedApiKey } from '../schemas/api-keys.js';
import { ZMe } from '../schemas/auth.js';
import { requireScope } from '../services/api-keys.js';
import { readJsonBody } from './body.js';
import { parseInput } from './validation.js';

export type RestResult = { status: number; body?: unknown; headers?: Record<string, string> };

type HandlerArgs = { caller: Caller; ctx: Context; params: Record<string, string | undefined>; body: unknown; query: URLSearchParams };

export type RestRoute = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** find-my-way syntax: `/api/usage/keys/:id`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** The API key scope required (`any`: any valid key); every /api/usage route is authenticated. */
  scope: ApiKeyScope | 'any';
  body?: z.ZodType;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handle: (args: HandlerArgs) => Promise<RestResult>;
};

const ZIdParam = z.object({ id: z.uuid('must be a UUID') });

/**
 * The REST surface of /api/usage. Each route parses with the same zod schema its tRPC
 * procedure declares and calls that procedure, so both transports share one rule.
 */
export const REST_ROUTES: RestRoute[] = [
  {
    method: 'GET',
    path: '/api/usage/me',
    operationId: 'getMe',
    summary: 'The creator and API key this request authenticates as',
    tag: 'Account',
    scope: 'any',
    responses: { 200: { description: 'The authenticated creator', schema: ZMe } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.auth.me() }),
  },
  {
    method: 'GET',
    path: '/api/usage/keys',
    operationId: 'listApiKeys',
    summary: 'List API keys (secrets are never returned)',
    tag: 'API keys',
    scope: 'admin',
    responses: { 200: { description: 'The creator’s API keys, newest first', schema: ZApiKeyList } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.apiKeys.list() }),
  },
  {
    method: 'POST',
    path: '/api/usage/keys',
    operationId: 'createApiKey',
    summary: 'Create an API key; the `api_key` value is shown once',
    tag: 'API keys',
    scope: 'admin',
    body: ZCreateApiKeyInput,
    responses: { 201: { description: 'The new key, with its secret', schema: ZCreatedApiKey } },
    handle: async ({ caller, body }) => ({ status: 201, body: await caller.apiKeys.create(parseInput(ZCreateApiKeyInput, body)) }),
  },
  {
    method: 'DELETE',
    path: '/api/usage/keys/:id',
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key; it fails from the next request on',
    tag: 'API keys',
    scope: 'admin',
    responses: { 200: { description: 'The revoked key', schema: ZApiKey } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.apiKeys.revoke(parseInput(ZIdParam, params)) }),
  },
];

export async function runRestRoute(
  route: RestRoute,
  req: IncomingMessage,
  ctx: Context,
  params: Record<string, string | undefined>,
  query: URLSearchParams,
): Promise<RestResult> {
  if (ctx.auth.kind === 'anonymous') throw ctx.authError ?? unauthorized('Send an API key as "Authorization: Bearer <key>".');
  // Scope before body: a key that may not call the route learns nothing from validation.
  if (ctx.auth.kind === 'api_key' && route.scope !== 'any') requireScope(ctx.auth, route.scope);
  const body = route.body ? await readJsonBody(req) : undefined;
  return route.handle({ caller: createCaller(ctx), ctx, params, body, query });
}
