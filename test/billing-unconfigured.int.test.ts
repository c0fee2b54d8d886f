/**
 * Reporting and reconciling without a Stripe account: 409 stripe-not-configured, as the
 * OpenAPI document says, whether or not there is usage to report, and nothing recorded.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';
import { reconcileBillingHandler, reportBillingHandler } from '../jobs/billing-report.js';

const { url } = await useTestDatabase();
const testServer = useTestServer(url);

describe('POST /api/usage/billing/sync without Stripe settings', () => {
  it('a sync refused 409 stripe-not-configured records nothing: last_report_at stays null ("Nothing is half-recorded")', async () => {
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    // README: "(PATCH … without Stripe settings it links by name unchecked.)"
    const meter = await createMeter(call, { event_name: 'api_calls', display_name: 'API Calls', aggregation_type: 'count', unit_name: 'calls' });
    expect((await call('PATCH', `/api/usage/meters/${meter.id}`, { stripe_meter_event_name: 'api_calls' })).status).toBe(200);
    expect((await call('PUT', '/api/usage/customers/u1', { stripe_customer_id: 'cus_123' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'u1' })).status).toBe(201);
    const before = await call('GET', '/api/usage/settings/stripe');
    expect(before.json.last_report_at).toBeNull();

    const sync = await call('POST', '/api/usage/billing/sync');
    expect(sync.status, sync.text).toBe(409);
    expect(sync.json.type).toBe('https://staryer.dev/problems/stripe-not-configured');

    // Nothing was reported (the answer says so), yet the Billing page would now read
    // "Last report: <now>" instead of "Never".
    const after = await call('GET', '/api/usage/settings/stripe');
    expect(after.json.last_report_at, 'a refused sync must not record a report').toBeNull();
  });

  it('answers the 409 stripe-not-configured the OpenAPI document promises, not 200, when the creator has no Stripe settings at all', async () => {
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    const doc = (await (await fetch(server.url + '/api/openapi.json')).json()) as any;
    expect(doc.paths['/api/usage/billing/sync'].post.responses['409'].description).toMatch(/Stripe is not configured \(stripe-not-configured\)/);

    const sync = await call('POST', '/api/usage/billing/sync');
    expect(sync.status, sync.text).toBe(409);
    expect(sync.json.type).toBe('https://staryer.dev/problems/stripe-not-configured');
    expect(doc.paths['/api/usage/billing/reconcile'].post.responses['409'].description).toMatch(/Stripe is not configured/);
    const reconcile = await call('POST', '/api/usage/billing/reconcile');
    expect(reconcile.status, reconcile.text).toBe(409);
    expect(reconcile.json.type).toBe('https://staryer.dev/problems/stripe-not-configured');
    expect((await call('GET', '/api/usage/settings/stripe')).json.last_report_at).toBeNull();
  });

  it('a report or reconciliation job queued before the creator removed Stripe completes without doing anything (not a failed job)', async () => {
    const server = testServer();
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    const job = { id: 'job', name: 'billing.report', data: {} } as never;
    await expect(reportBillingHandler.run(server.rt, { creatorId: creator.id }, job)).resolves.toBeUndefined();
    await expect(reconcileBillingHandler.run(server.rt, { creatorId: creator.id }, job)).resolves.toBeUndefined();
    expect((await call('GET', '/api/usage/settings/stripe')).json.last_report_at).toBeNull();
  });
});
