import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/** A value sent as a JSON number is recorded exactly as written, or refused: never altered by the parse. */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-03-10T12:00:00.000Z'));

describe('values sent as JSON numbers', () => {
  it('a value sent as a JSON number with 9 decimals is recorded as sent, or refused: never silently altered', async () => {
    setNow(new Date('2026-03-10T12:00:00.000Z'));
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    await createMeter(call, { event_name: 'storage', display_name: 'Storage', unit_name: 'gb', aggregation_type: 'sum' });
    // 12345678.123456789: 9 decimals, below 10^18, a value the contract accepts — as raw JSON, the way any client encodes it
    const sent = await call('POST', '/api/usage/track', '{"event_name":"storage","user_id":"u","value":12345678.123456789}');
    // Either it is kept exactly, or refused asking for a decimal string; here it is stored as 12345678.12345679 (201)
    if (sent.status === 201) expect(sent.json).toMatchObject({ value: '12345678.123456789', usage: { used: '12345678.123456789' } });
    else expect(sent.status, sent.text).toBe(422);
    // And more than 9 decimals is refused however written (0.30000000000000004 is; 1.0000000000000001 is taken as 1)
    const tooFine = await call('POST', '/api/usage/track', '{"event_name":"storage","user_id":"u2","value":1.0000000000000001}');
    expect(tooFine.status, tooFine.text).toBe(422);
    expect(tooFine.json).toMatchObject({ errors: [{ field: 'value', message: 'must have at most 9 decimal places' }] });
  });

  it('in a batch each literal is judged on its own: kept exactly, or that event refused naming value', async () => {
    setNow(new Date('2026-03-10T12:00:00.000Z'));
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    await createMeter(call, { event_name: 'storage', display_name: 'Storage', unit_name: 'gb', aggregation_type: 'sum' });
    const body = `[{"event_name":"storage","user_id":"b","value":1},{"event_name":"storage","user_id":"b","value":999999999999999.999999999},{"event_name":"storage","user_id":"b","value":1.0000000000000001},{"event_name":"storage","user_id":"b","value":9007199254740993}]`;
    const sent = await call('POST', '/api/usage/track', body);
    expect(sent.status, sent.text).toBe(200);
    const results = sent.json.results as Array<Record<string, any>>;
    expect(results.map((r) => r.status)).toEqual([201, 201, 422, 422]);
    expect(results[2]!.error.errors).toEqual([{ field: 'value', message: 'must have at most 9 decimal places' }]);
    expect(results[3]!.error.errors[0].field).toBe('value');
    const usage = await call('GET', '/api/usage/customers/b/usage');
    expect(usage.json.meters[0].used).toBe('1000000000000000.999999999');
  });

  it('a plan limit and overage price sent as JSON numbers are kept exactly too', async () => {
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    const meter = await call(
      'POST',
      '/api/usage/meters',
      '{"event_name":"bytes","display_name":"Bytes","unit_name":"b","aggregation_type":"sum","plan_limits":[{"plan_name":"pro","limit_value":12345678.123456789,"overage_price":1234567.000000001}]}',
    );
    expect(meter.status, meter.text).toBe(201);
    expect(meter.json.plan_limits[0]).toMatchObject({ limit_value: '12345678.123456789', overage_price: '1234567.000000001' });
    const tooFine = await call(
      'POST',
      '/api/usage/meters',
      '{"event_name":"bytes2","display_name":"Bytes","unit_name":"b","aggregation_type":"sum","plan_limits":[{"plan_name":"pro","limit_value":1.0000000000000001}]}',
    );
    expect(tooFine.status, tooFine.text).toBe(422);
    expect(tooFine.json.errors).toEqual([{ field: 'plan_limits[0].limit_value', message: 'must have at most 9 decimal places' }]);
  });

  it('a property or a whole-number field that the parse would alter is refused, not stored altered', async () => {
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    await createMeter(call, { event_name: 'storage', display_name: 'Storage', unit_name: 'gb', aggregation_type: 'sum' });
    const property = await call('POST', '/api/usage/track', '{"event_name":"storage","user_id":"p","properties":{"price":{"eur":0.1000000000000000001}}}');
    expect(property.status, property.text).toBe(422);
    expect(property.json.errors).toEqual([{ field: 'properties.price.eur', message: expect.stringContaining('send it as a string') }]);
    const inBatch = await call('POST', '/api/usage/track', '[{"event_name":"storage","user_id":"p"},{"event_name":"storage","user_id":"p","properties":{"x":1e400}}]');
    expect(inBatch.status, inBatch.text).toBe(422);
    expect(inBatch.json.errors[0].field).toBe('[1].properties.x');
    // Properties that JSON.parse keeps as written are stored as before.
    const exact = await call('POST', '/api/usage/track', '{"event_name":"storage","user_id":"p","properties":{"ratio":0.30000000000000004,"n":12345678901234}}');
    expect(exact.status, exact.text).toBe(201);
    const grace = await call('PUT', '/api/usage/settings', '{"late_event_grace_hours":24.000000000000000001}');
    expect(grace.status, grace.text).toBe(422);
    expect(grace.json.errors[0].field).toBe('late_event_grace_hours');
  });

  it('over tRPC, a value sent as a JSON number is kept exactly or refused, as over REST', async () => {
    setNow(new Date('2026-03-10T12:00:00.000Z'));
    const { apiKey } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    await createMeter(call, { event_name: 'storage', display_name: 'Storage', unit_name: 'gb', aggregation_type: 'sum' });
    const one = await call('POST', '/api/trpc/usage.track', '{"event_name":"storage","user_id":"t","value":12345678.123456789}');
    expect(one.status, one.text).toBe(200);
    expect(one.json.result.data).toMatchObject({ value: '12345678.123456789', usage: { used: '12345678.123456789' } });
    // A batch of calls (?batch=1) and trackBatch's array: each literal as written.
    const calls = await call(
      'POST',
      '/api/trpc/usage.track,usage.trackBatch?batch=1',
      '{"0":{"event_name":"storage","user_id":"t","value":0.000000001},"1":[{"event_name":"storage","user_id":"t","value":999999999999999.999999999},{"event_name":"storage","user_id":"t","value":1.0000000000000001}]}',
    );
    expect(calls.status, calls.text).toBe(200);
    const [single, batch] = calls.json as Array<Record<string, any>>;
    expect(single!.result.data.value).toBe('0.000000001');
    expect(batch!.result.data.results.map((r: { status: number }) => r.status)).toEqual([201, 422]);
    expect(batch!.result.data.results[1].error.errors).toEqual([{ field: 'value', message: expect.stringContaining('at most 9 decimal places') }]);
    const usage = await call('GET', '/api/usage/customers/t/usage');
    expect(usage.json.meters[0].used).toBe('1000000012345678.123456789');
    // A property the parse would alter is refused, naming it, and nothing is recorded.
    const property = await call('POST', '/api/trpc/usage.track', '{"event_name":"storage","user_id":"t2","properties":{"price":0.1000000000000000001}}');
    expect(property.status, property.text).toBe(422);
    expect(property.json.error.data.problem.errors).toEqual([{ field: 'properties.price', message: expect.stringContaining('send it as a string') }]);
    expect((await call('GET', '/api/usage/customers/t2/usage')).status).toBe(404);
    // Bytes that are not UTF-8 are refused, not recorded as U+FFFD under another user_id.
    const bytes = Buffer.concat([Buffer.from('{"event_name":"storage","user_id":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const latin1 = await fetch(`${server().url}/api/trpc/usage.track`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: bytes,
    });
    expect(latin1.status).toBe(400);
    expect((await call('GET', `/api/usage/customers/${encodeURIComponent('caf\uFFFD')}/usage`)).status).toBe(404);
  });
});
