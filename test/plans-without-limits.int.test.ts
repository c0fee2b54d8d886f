/**
 * Plans are names in meters' plan limits, so a customer or default plan spelled otherwise
 * ("Pro" for "pro") has no limits anywhere: usage never limited, no overage billed. The
 * customer page and the Settings page say so, naming the plans that do have limits.
 */
import { describe, expect, it } from 'vitest';
import { loginThroughForm } from './harness/dashboard.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

const { url } = await useTestDatabase();
const server = useTestServer(url, { pages: true, env: { AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000' } });

const D = '/creator/dashboard/usage';
const text = (html: string) => html.replace(/<script[\s\S]*?<\/script>/g, ' ').replace(/<!-- -->/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

async function creator(options: { meters: boolean }) {
  const password = 'a sound passphrase';
  const { apiKey, email } = await createCreatorWithKey(server().rt, { password });
  const call = api(server().url, apiKey);
  const cookie = await loginThroughForm(server().url, email, password);
  const page = async (path: string) => {
    const r = await fetch(server().url + path, { headers: { cookie } });
    expect(r.status, path).toBe(200);
    return text(await r.text());
  };
  if (options.meters) {
    const meter = await call('POST', '/api/usage/meters', {
      event_name: 'api_calls',
      display_name: 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'free', limit_value: 1000, hard_cap: true },
        { plan_name: 'pro', limit_value: 100000, overage_price: 0.001 },
      ],
    });
    expect(meter.status, meter.text).toBe(201);
  }
  return { call, page };
}

describe('a plan no meter has limits for', () => {
  it('the customer page says the customer’s usage is never limited, and names the plans with limits; a plan with limits says nothing', async () => {
    const c = await creator({ meters: true });
    expect((await c.call('PUT', '/api/usage/customers/ann', { plan_name: 'Pro' })).status).toBe(201);
    expect(await c.page(`${D}/customers/ann`)).toContain('No meter has limits for plan “Pro”: this customer’s usage is never limited and no overage is billed. Did you mean “pro”? Plan names are matched exactly.');

    expect((await c.call('PUT', '/api/usage/customers/ann', { plan_name: 'pro' })).status).toBe(200);
    expect(await c.page(`${D}/customers/ann`)).not.toContain('No meter has limits');
  });

  it('the Settings page says so of a default plan no meter has limits for', async () => {
    const c = await creator({ meters: true });
    expect((await c.call('PUT', '/api/usage/settings', { default_plan: 'enterprize' })).status).toBe(200);
    expect(await c.page(`${D}/settings`)).toContain('No meter has limits for plan “enterprize”: new customers get no limits and no overage is billed. Plans with limits: free, pro.');
    expect((await c.call('PUT', '/api/usage/settings', { default_plan: 'free' })).status).toBe(200);
    expect(await c.page(`${D}/settings`)).not.toContain('No meter has limits');
  });

  it('says nothing before any meter exists (customers and plans may come first)', async () => {
    const c = await creator({ meters: false });
    expect((await c.call('PUT', '/api/usage/customers/ann', { plan_name: 'pro' })).status).toBe(201);
    expect(await c.page(`${D}/customers/ann`)).not.toContain('No meter has limits');
  });
});
