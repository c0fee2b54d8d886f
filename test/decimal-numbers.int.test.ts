import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Quantities and money sent as JSON numbers are taken exactly like the decimal string
 * they are, including numbers below 10^-6 that JSON encoders write with an exponent.
 */
const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url);
});
afterAll(() => server.close());

describe('small JSON numbers', () => {
  let call: ReturnType<typeof api>;
  beforeAll(async () => {
    call = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
  });

  it('accepts limit_value and overage_price below 10^-6 as numbers, as the equal decimal strings', async () => {
    // Raw JSON text, as any client writes it: 5e-7 and 0.0000005 are the same number.
    const created = await call(
      'POST',
      '/api/usage/meters',
      '{"event_name":"tokens","display_name":"Tokens","aggregation_type":"sum","unit_name":"tokens","plan_limits":[{"plan_name":"nano","limit_value":0.0000005,"overage_price":5e-7},{"plan_name":"pico","limit_value":1.5e-8,"overage_price":0.000000001}]}',
    );
    expect(created.status, created.text).toBe(201);
    const limits = Object.fromEntries((created.json.plan_limits as Array<{ plan_name: string }>).map((l) => [l.plan_name, l]));
    expect(limits.nano).toMatchObject({ limit_value: '0.0000005', overage_price: '0.0000005' });
    expect(limits.pico).toMatchObject({ limit_value: '0.000000015', overage_price: '0.000000001' });
  });

  it('counts a value of 0.0000005 sent as a number exactly as "0.0000005"', async () => {
    expect((await call('PUT', '/api/usage/customers/n1', { plan_name: 'nano' })).status).toBe(201);
    const asNumber = await call('POST', '/api/usage/track', '{"event_name":"tokens","user_id":"n1","value":0.0000005}');
    expect(asNumber.status, asNumber.text).toBe(201);
    expect(asNumber.json).toMatchObject({ value: '0.0000005', usage: { used: '0.0000005', limit: '0.0000005', remaining: '0' } });
    const asString = await call('POST', '/api/usage/track', '{"event_name":"tokens","user_id":"n1","value":"0.0000005"}');
    expect(asString.status, asString.text).toBe(201);
    const exponent = await call('POST', '/api/usage/track', { event_name: 'tokens', user_id: 'n1', value: 1e-9 });
    expect(exponent.status, exponent.text).toBe(201);
    expect(exponent.json).toMatchObject({ value: '0.000000001', usage: { used: '0.000001001' } });
    const usage = await call('GET', '/api/usage/customers/n1/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '0.000001001', overage_quantity: '0.000000501', overage_amount: '0' });
  });

  it('still refuses more than 9 decimals, however they are written', async () => {
    for (const value of ['1e-10', '0.0000000001', '1.5e-9', '1.0000000001']) {
      const refused = await call('POST', '/api/usage/track', `{"event_name":"tokens","user_id":"n2","value":${value}}`);
      expect(refused.status, value).toBe(422);
      expect(refused.json.errors, value).toEqual([{ field: 'value', message: 'must have at most 9 decimal places' }]);
    }
    const price = await call('POST', '/api/usage/meters', {
      event_name: 'tokens2',
      display_name: 'Tokens',
      aggregation_type: 'sum',
      unit_name: 'tokens',
      plan_limits: [{ plan_name: 'x', limit_value: 1, overage_price: 1e-10 }],
    });
    expect(price.status).toBe(422);
    expect(price.json.errors).toEqual([{ field: 'plan_limits[0].overage_price', message: 'must have at most 9 decimal places' }]);
  });
});
