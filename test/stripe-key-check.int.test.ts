import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useServerWithFakeStripe } from './harness/stripe-linked.js';

/*
 * A Stripe secret key was stored without being asked of Stripe: a mistyped or rolled key was
 * "saved", and the creator learnt it only when every report failed. It is now asked first
 * (one read of Billing meters): one Stripe refuses (401) gets 422 and nothing is saved; one
 * that could not be checked is saved with a warning saying so.
 */

const { url } = await useTestDatabase();
const { server, fake } = useServerWithFakeStripe(url);

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  return { call: api(server().url, apiKey), key: `sk_test_k${creator.id.replace(/-/g, '')}` };
}

describe('PUT /api/usage/settings/stripe checks a new secret key with Stripe', () => {
  it('a key Stripe accepts is saved, without warnings, after one read of Billing meters made with it', async () => {
    const { call, key } = await creator();
    const before = fake().requests.length;
    const saved = await call('PUT', '/api/usage/settings/stripe', { secret_key: key, report_interval_minutes: 10 });
    expect(saved.status, saved.text).toBe(200);
    expect(saved.json).toMatchObject({ configured: 'secret_key', report_interval_minutes: 10 });
    expect('warnings' in saved.json).toBe(false);
    const asked = fake().requests.slice(before);
    expect(asked.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/billing/meters']);
  });

  it('a key Stripe refuses (rolled, 401) → 422 naming secret_key, and the settings stay as they were', async () => {
    const { call, key } = await creator();
    expect((await call('PUT', '/api/usage/settings/stripe', { secret_key: key })).status).toBe(200);
    const rolled = `${key}old`;
    fake().revokeKey(rolled);
    const refused = await call('PUT', '/api/usage/settings/stripe', { secret_key: rolled, report_interval_minutes: 30 });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.json.errors).toEqual([{ field: 'secret_key', message: expect.stringMatching(/^is refused by Stripe \(.*Expired API Key provided.*\); nothing was saved\./) }]);
    const after = await call('GET', '/api/usage/settings/stripe');
    expect(after.json).toMatchObject({ configured: 'secret_key', report_interval_minutes: 5 });
    // The key kept is the one that works: a report still reaches Stripe with it.
    const stored = await call('POST', '/api/usage/billing/sync');
    expect(stored.status, stored.text).toBe(200);
  });

  it('Stripe unreachable: the key is saved, with a warning that it could not be checked', async () => {
    const { call, key } = await creator();
    // Every attempt (the client library tries a reset connection again once by itself).
    fake().inject({ kind: 'down', pathPrefix: '/v1/billing/meters' });
    const saved = await call('PUT', '/api/usage/settings/stripe', { secret_key: key }).finally(() => fake().clearFaults());
    expect(saved.status, saved.text).toBe(200);
    expect(saved.json.configured).toBe('secret_key');
    expect(saved.json.warnings).toEqual([{ field: 'secret_key', message: expect.stringMatching(/^was saved without being checked: Stripe could not be reached/) }]);
  });

  it('settings without a new key ask Stripe nothing', async () => {
    const { call } = await creator();
    const before = fake().requests.length;
    expect((await call('PUT', '/api/usage/settings/stripe', { report_interval_minutes: 15 })).status).toBe(200);
    expect(fake().requests.length).toBe(before);
  });
});
