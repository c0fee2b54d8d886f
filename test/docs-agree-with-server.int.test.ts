/**
 * The documentation agrees with the running server: README.md, the OpenAPI document served
 * at /api/openapi.json and the contract in DESIGN.md. Every test states what a document
 * promises and asks the real server (or the file the README points at); a failure is a
 * place where the two disagree.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { startTestServer, useTestServer } from './harness/server.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ZEnv } from '../server/env.js';

const { url } = await useTestDatabase();
const testServer = useTestServer(url, { env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'true' } });

type Schema = Record<string, any>;
type Doc = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, Schema> } };

/** A small JSON Schema (2020-12 subset zod emits) validator: the paths where `value` breaks `schema`. */
function violations(doc: Doc, schema: Schema | boolean, value: unknown, at = '$'): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema === false) return [`${at}: not allowed`];
  if (schema.$ref) {
    const target = (schema.$ref as string).slice(2).split('/').reduce<any>((o, k) => o?.[k], doc);
    return violations(doc, target, value, at);
  }
  const out: string[] = [];
  const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
  if (schema.type) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${at}: ${t} is not ${types.join('|')} (${JSON.stringify(value)?.slice(0, 80)})`];
  }
  if (schema.const !== undefined && schema.const !== value) out.push(`${at}: not const ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) out.push(`${at}: ${JSON.stringify(value)} not in enum ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) out.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern.slice(0, 60)}`);
    if (schema.minLength !== undefined && value.length < schema.minLength) out.push(`${at}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) out.push(`${at}: longer than ${schema.maxLength}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${at}: < ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${at}: > ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) out.push(`${at}: more than ${schema.maxItems} items`);
    const prefix: Schema[] = schema.prefixItems ?? [];
    value.forEach((item, i) => out.push(...violations(doc, i < prefix.length ? prefix[i]! : schema.items, item, `${at}[${i}]`)));
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) out.push(`${at}: missing required "${key}"`);
    for (const [key, v] of Object.entries(obj)) {
      if (schema.properties && key in schema.properties) out.push(...violations(doc, schema.properties[key], v, `${at}.${key}`));
      else if (schema.propertyNames && violations(doc, schema.propertyNames, key).length) out.push(`${at}: key "${key}" not allowed by propertyNames`);
      if (!(schema.properties && key in schema.properties) && schema.additionalProperties !== undefined) {
        out.push(...(schema.additionalProperties === false ? [`${at}: unexpected property "${key}"`] : violations(doc, schema.additionalProperties, v, `${at}.${key}`)));
      }
    }
  }
  if (schema.allOf) for (const s of schema.allOf) out.push(...violations(doc, s, value, at));
  if (schema.anyOf && !schema.anyOf.some((s: Schema) => violations(doc, s, value, at).length === 0)) {
    out.push(`${at}: matches no anyOf branch: ${schema.anyOf.map((s: Schema) => violations(doc, s, value, at).join('; ')).join(' | ')}`);
  }
  if (schema.oneOf && schema.oneOf.filter((s: Schema) => violations(doc, s, value, at).length === 0).length !== 1) out.push(`${at}: not exactly one oneOf`);
  return out;
}

let docCache: Doc | undefined;
async function openApi(): Promise<Doc> {
  docCache ??= (await (await fetch(testServer().url + '/api/openapi.json')).json()) as Doc;
  return docCache;
}

/** What a real answer breaks of the OpenAPI document's promise for that operation and status. */
async function answerViolations(method: string, path: string, res: { status: number; headers: Headers; json: unknown; text: string }): Promise<string[]> {
  const doc = await openApi();
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) return [`${method} ${path}: not in the OpenAPI document`];
  const response = op.responses[String(res.status)];
  if (!response) return [`${method} ${path}: status ${res.status} not documented (documented: ${Object.keys(op.responses).join(', ')}) body ${res.text.slice(0, 200)}`];
  const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (!response.content) return res.text === '' ? [] : [`${method} ${path} ${res.status}: documented without a body, answered ${contentType}`];
  const media = response.content[contentType];
  if (!media) return [`${method} ${path} ${res.status}: answered ${contentType}, documented ${Object.keys(response.content).join(', ')}`];
  return violations(doc, media.schema, res.json).map((v) => `${method} ${path} ${res.status}: ${v}`);
}


const COUNT_METER = { event_name: 'api_calls', display_name: 'API Calls', aggregation_type: 'count', unit_name: 'calls' };

describe('the OpenAPI document lists what the routes answer', () => {
  it('PUT /api/usage/settings/stripe documents the 409 encryption-key-missing it answers in production without STRIPE_KEYS_ENCRYPTION_KEY', async () => {
    // README "Configuration": with NODE_ENV=production and no key, "storing a Stripe key or webhook secret answers 409 encryption-key-missing".
    const prod = await startTestServer(url, { env: { NODE_ENV: 'production' } });
    try {
      const { apiKey } = await createCreatorWithKey(prod.rt);
      const answer = await api(prod.url, apiKey)('PUT', '/api/usage/settings/stripe', { secret_key: 'sk_test_abcdefghijkl' });
      expect(answer.status, answer.text).toBe(409);
      expect(answer.json.type).toBe('https://staryer.dev/problems/encryption-key-missing');
      expect(await answerViolations('PUT', '/api/usage/settings/stripe', answer)).toEqual([]);
    } finally {
      await prod.close();
    }
  });

  it('documents the 403 a browser token gets, on routes for any key (GET /api/usage/me) and on scoped ones (GET /api/usage/meters)', async () => {
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const token = (await api(server.url, apiKey)('POST', '/api/usage/tokens', { user_id: 'user_1' })).json.token as string;
    const doc = await openApi();
    for (const path of ['/api/usage/me', '/api/usage/meters']) {
      const answer = await api(server.url, token)('GET', path);
      expect(answer.status, answer.text).toBe(403);
      expect(await answerViolations('GET', path, answer)).toEqual([]);
      expect(doc.paths[path]!.get.responses['403'].description).toMatch(/browser token/);
    }
  });

  it('POST /api/usage/track: the request schema refuses the empty batch the server refuses (422)', async () => {
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const answer = await api(server.url, apiKey)('POST', '/api/usage/track', []);
    expect(answer.status, answer.text).toBe(422);
    const doc = await openApi();
    const schema = doc.paths['/api/usage/track']!.post.requestBody.content['application/json'].schema;
    expect(violations(doc, schema, []), 'the OpenAPI request schema takes [] as a valid body').not.toEqual([]);
  });
});

describe('README "Configuration"', () => {
  it('.env.example lists every variable server/env.ts reads ("`.env.example` lists them all")', () => {
    const text = readFileSync(path.join(import.meta.dirname, '..', '.env.example'), 'utf8');
    const names = new Set([...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!));
    const missing = Object.keys(ZEnv.shape).filter((name) => !names.has(name));
    expect(missing).toEqual([]);
  });
});

describe('DESIGN.md: timestamps are RFC 3339 "with Z or an offset"', () => {
  it('POST /api/usage/track takes the lower-case "t" and "z" RFC 3339 §5.6 allows, as the same instant and the same idempotent event', async () => {
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    await createMeter(call, COUNT_METER);
    const at = new Date(Date.now() - 60_000).toISOString(); // e.g. 2026-11-27T08:13:19.034Z
    const lowerAt = at.replace('T', 't').replace('Z', 'z');
    const upper = await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'u_upper', timestamp: at });
    expect(upper.status, upper.text).toBe(201);
    const lower = await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'u_lower', timestamp: lowerAt });
    expect(lower.status, lower.text).toBe(201);
    expect(lower.json.timestamp).toBe(at);

    // One idempotency key, the two spellings: the second is a replay of the first, not a conflict.
    const event = { event_name: 'api_calls', user_id: 'u_same', idempotency_key: 'spelling-1' };
    const first = await call('POST', '/api/usage/track', { ...event, timestamp: at });
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await call('POST', '/api/usage/track', { ...event, timestamp: lowerAt });
    expect(again.status, again.text).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');

    // The OpenAPI document takes it too.
    const doc = await openApi();
    const schema = doc.paths['/api/usage/track']!.post.requestBody.content['application/json'].schema;
    expect(violations(doc, schema, { ...event, timestamp: lowerAt })).toEqual([]);
  });
});
