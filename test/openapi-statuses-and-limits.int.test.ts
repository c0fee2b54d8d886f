/**
 * The documents agree with the running server where a review found they did not: the statuses
 * and outcomes the OpenAPI document (/api/openapi.json) lists, the 405 the README promises, the
 * JSON-number limit of quantities, and the Stripe setting the product refuses on purpose.
 * Each test quotes the sentence it enforces.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sendStripeWebhook, stripeEvent } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

const { url } = await useTestDatabase();
const testServer = useTestServer(url);

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>> };
let docCache: Doc | undefined;
async function openApi(): Promise<Doc> {
  docCache ??= (await (await fetch(testServer().url + '/api/openapi.json')).json()) as Doc;
  return docCache;
}
/** The statuses the OpenAPI document lists for one operation. */
async function documentedStatuses(method: string, path: string): Promise<string[]> {
  const op = (await openApi()).paths[path]?.[method.toLowerCase()];
  return op ? Object.keys(op.responses) : [];
}

const COUNT_METER = { event_name: 'api_calls', display_name: 'API Calls', aggregation_type: 'count', unit_name: 'calls' };

describe('OpenAPI: every status a route answers to ordinary bad input is listed for it', () => {
  it('GET /api/usage/check answers 400 malformed-query to a user_id that is not UTF-8, a status its OpenAPI operation does not list', async () => {
    // README "Errors": "`…/malformed-path` and `…/malformed-query` (400: a `%` sequence that does not decode, or
    // encodes bytes that are not UTF-8)"; README "HTTP API": "The complete reference is the OpenAPI 3.1 document".
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    await createMeter(call, COUNT_METER);
    const answer = await call('GET', '/api/usage/check?user_id=%FF&event_name=api_calls');
    expect(answer.status, answer.text).toBe(400);
    expect(answer.json.type).toBe('https://staryer.dev/problems/malformed-query');
    expect(await documentedStatuses('GET', '/api/usage/check'), 'OpenAPI GET /api/usage/check lists no 400').toContain('400');
  });

  it('GET /api/usage/customers/{user_id}/usage answers 400 malformed-path to a user_id that is not UTF-8, a status its OpenAPI operation does not list', async () => {
    // Same README sentence; OpenAPI lists 200, 401, 403, 404, 422, 503 for this operation.
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const answer = await api(server.url, apiKey)('GET', '/api/usage/customers/%FF/usage');
    expect(answer.status, answer.text).toBe(400);
    expect(answer.json.type).toBe('https://staryer.dev/problems/malformed-path');
    expect(await documentedStatuses('GET', '/api/usage/customers/{user_id}/usage'), 'OpenAPI lists no 400 for this path-parameter route').toContain('400');
  });

  it('POST /api/stripe/webhooks/{creatorId} answers 415 (gzip body) and 413 (body over 1 MB), which its OpenAPI operation (200, 400 only) does not list', async () => {
    // OpenAPI receiveStripeWebhook: responses 200 "Received" and 400 "The signature does not verify…" only.
    // README "Errors": "a body in a content coding (`Content-Encoding: gzip`…) → 415 …, body over 1 MB → 413".
    const server = testServer();
    const { creator } = await createCreatorWithKey(server.rt);
    const path = `/api/stripe/webhooks/${creator.id}`;
    const gzip = await api(server.url)('POST', path, { id: 'evt_1' }, { 'content-encoding': 'gzip', 'stripe-signature': 't=1,v1=x' });
    expect(gzip.status, gzip.text).toBe(415);
    const large = await api(server.url)('POST', path, `{"x":"${'a'.repeat(1_100_000)}"}`, { 'stripe-signature': 't=1,v1=x' });
    expect(large.status, large.text).toBe(413);
    const documented = await documentedStatuses('POST', '/api/stripe/webhooks/{creatorId}');
    expect(documented, 'OpenAPI lists no 415 for the Stripe webhook').toContain('415');
    expect(documented, 'OpenAPI lists no 413 for the Stripe webhook').toContain('413');
  });

  it('POST /api/stripe/webhooks/{creatorId} answers outcomes (other_subscription, unsupported_interval) that OpenAPI’s "outcome: applied, duplicate, stale, ignored" does not name', async () => {
    // OpenAPI 200 description: "Received (outcome: applied, duplicate, stale, ignored)".
    // README: "another one's event: outcome `other_subscription`" and "the webhook's outcome is `unsupported_interval`".
    const server = testServer();
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    const secret = 'whsec_reviewSigningSecret0123456789';
    const settings = await call('PUT', '/api/usage/settings/stripe', { webhook_secret: secret });
    expect(settings.status, settings.text).toBe(200);
    await createMeter(call, COUNT_METER);
    await call('PUT', '/api/usage/customers/pinned', { stripe_customer_id: 'cus_Pinned1', stripe_subscription_items: { api_calls: 'si_Mine1' } });
    await call('PUT', '/api/usage/customers/yearly', { stripe_customer_id: 'cus_Yearly1' });
    const now = Math.floor(Date.now() / 1000);
    const subscription = (customer: string, item: string, interval: string) => ({
      id: `sub_${customer}`, object: 'subscription', customer, status: 'active', billing_cycle_anchor: now - 86400,
      items: { object: 'list', data: [{ id: item, current_period_start: now - 86400, current_period_end: now + 20 * 86400, price: { recurring: { interval, interval_count: 1 } } }] },
    });
    const endpoint = `${server.url}/api/stripe/webhooks/${creator.id}`;
    const other = await sendStripeWebhook(endpoint, secret, stripeEvent('customer.subscription.updated', subscription('cus_Pinned1', 'si_Other1', 'month'), now - 5));
    const yearly = await sendStripeWebhook(endpoint, secret, stripeEvent('customer.subscription.updated', subscription('cus_Yearly1', 'si_Year1', 'year'), now - 5));
    expect(other).toMatchObject({ status: 200, json: { outcome: 'other_subscription' } });
    expect(yearly).toMatchObject({ status: 200, json: { outcome: 'unsupported_interval' } });
    const description = (await openApi()).paths['/api/stripe/webhooks/{creatorId}']!.post!.responses['200']!.description;
    expect(description).toContain('other_subscription');
    expect(description).toContain('unsupported_interval');
  });
});

describe('README "Errors": "a method a path does not take → 405 with `Allow`"', () => {
  it('GET /api/stripe/webhooks/{creatorId} (a path that takes POST only) answers 404 "nothing at this path", not 405 with Allow: POST', async () => {
    const server = testServer();
    const { creator } = await createCreatorWithKey(server.rt);
    const response = await fetch(`${server.url}/api/stripe/webhooks/${creator.id}`);
    const text = await response.text();
    expect(response.status, text).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });
});

describe('Quantities: a JSON number past 2^53 is refused with a message and README that say the same', () => {
  it('POST /api/usage/track refuses the JSON number 20000000000000000, accepts it as a string, and says why in words the README uses', async () => {
    // README "HTTP API": "a JSON number's integer part must be below 2^53 (≈ 9.007 × 10^15; 422 past it) … send larger values as strings".
    expect(fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain("a JSON number's integer part\nmust be below 2^53");
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    await createMeter(call, { ...COUNT_METER, event_name: 'bytes', aggregation_type: 'sum', unit_name: 'bytes' });
    const asString = await call('POST', '/api/usage/track', '{"event_name":"bytes","user_id":"u_str","value":"20000000000000000"}');
    expect(asString.status, asString.text).toBe(201);
    const asNumber = await call('POST', '/api/usage/track', '{"event_name":"bytes","user_id":"u_num","value":20000000000000000}');
    expect(asNumber.status, asNumber.text).toBe(422);
    // It said "too large; send large values as a decimal string (at most 10^18)" of a value below 10^18.
    expect(asNumber.json.errors).toEqual([{ field: 'value', message: 'is too large for a JSON number (its integer part must be below 2^53); send it as a decimal string (below 10^18)' }]);
  });
});

describe('Stripe settings: connect_account_id is refused on purpose, and the OpenAPI document says so', () => {
  it('PUT /api/usage/settings/stripe with connect_account_id answers 422, and OpenAPI describes the field as refused', async () => {
    // README: "`connect_account_id` is refused (422): an account is connected only through Stripe's authorization".
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const answer = await api(server.url, apiKey)('PUT', '/api/usage/settings/stripe', { connect_account_id: 'acct_1Review', report_interval_minutes: 10 });
    expect(answer.status, answer.text).toBe(422);
    expect(answer.json.errors).toEqual([expect.objectContaining({ field: 'connect_account_id' })]);
    const doc = (await openApi()) as unknown as { paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: { properties: Record<string, { description?: string }> } }> } }>> };
    const field = doc.paths['/api/usage/settings/stripe']!.put!.requestBody.content['application/json']!.schema.properties.connect_account_id!;
    expect(field.description).toMatch(/^Refused \(422\)/);
  });

  it('every 503 the OpenAPI document lists carries Retry-After ("database unavailable → 503 with Retry-After"), and a route that also asks Stripe keeps saying so', async () => {
    const doc = (await openApi()) as unknown as { paths: Record<string, Record<string, { responses: Record<string, { description: string; headers?: Record<string, unknown> }> }>> };
    const without: string[] = [];
    let count = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const unavailable = op.responses['503'];
        if (!unavailable) continue;
        count++;
        if (!unavailable.headers?.['Retry-After']) without.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(count).toBeGreaterThan(20);
    expect(without).toEqual([]);
    expect(doc.paths['/api/usage/meters/{id}']!.patch!.responses['503']!.description).toMatch(/Stripe/);
  });
});
