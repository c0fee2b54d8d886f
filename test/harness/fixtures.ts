import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { ApiKeyScope } from '../../db/schema.js';
import type { Runtime } from '../../server/runtime.js';
import { createApiKey } from '../../server/services/api-keys.js';
import { createCreatorAccount } from '../../server/services/creators.js';

export const uniqueEmail = (label = 'creator') => `${label}-${randomBytes(4).toString('hex')}@example.com`;

/** A creator with one API key of the given scopes (admin by default). */
export async function createCreatorWithKey(rt: Runtime, options: { scopes?: ApiKeyScope[]; password?: string; email?: string } = {}) {
  const email = options.email ?? uniqueEmail();
  const creator = await createCreatorAccount(rt, { email, name: email.split('@')[0]!, password: options.password });
  const { key, secret } = await createApiKey(rt, creator.id, { name: 'test', scopes: options.scopes ?? ['admin'] });
  return { creator, key, apiKey: secret, email };
}

/** fetch against the test server with JSON helpers. */
export function api(baseUrl: string, apiKey?: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: {
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json: json as Record<string, any>, text };
  };
}

/** A tRPC query over HTTP (GET, input in the query string): expects 200, answers the procedure's data. */
export async function trpcQuery(call: ReturnType<typeof api>, procedure: string, input: unknown = {}) {
  const response = await call('GET', `/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`);
  expect(response.status, response.text).toBe(200);
  return response.json.result.data;
}

/** POST /api/usage/meters: expects 201, answers the meter. */
export async function createMeter(call: ReturnType<typeof api>, meter: Record<string, unknown>): Promise<Record<string, any>> {
  const created = await call('POST', '/api/usage/meters', meter);
  expect(created.status, created.text).toBe(201);
  return created.json;
}
