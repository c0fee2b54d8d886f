import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { loginThroughForm } from './harness/dashboard.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { applyRollupJobs } from './harness/rollups.js';
import { useTestServer } from './harness/server.js';

/**
 * What a creator reads on the dashboard: a dimension's "(none)" text apart from events without
 * the property; "1 call", not "1 calls"; explorer rows of a minutes meter that say they are rounded.
 */
const { url } = await useTestDatabase();
const server = useTestServer(url, { pages: true, env: { AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000' } });

const D = '/creator/dashboard/usage';

/** The page's visible text, tags dropped (React's <!-- --> separators too). */
const text = (html: string) =>
  html
    .replace(/<script[\s\S]*?<\/script>/g, ' ')
    .replace(/<!-- -->/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

/** The visible text of each element carrying data-testid=`id` (its first closing tag of `tag`). */
const byTestId = (html: string, id: string, tag = 'p') => [...html.matchAll(new RegExp(`data-testid="${id}"[^>]*>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => text(m[1]!).trim());

async function creator() {
  const password = 'a sound passphrase';
  const { creator, apiKey, email } = await createCreatorWithKey(server().rt, { password });
  const cookie = await loginThroughForm(server().url, email, password);
  const page = async (path: string) => {
    const r = await fetch(server().url + path, { headers: { cookie }, redirect: 'manual' });
    return { status: r.status, html: await r.text() };
  };
  return { creatorId: creator.id, call: api(server().url, apiKey), page };
}

async function track(call: ReturnType<typeof api>, events: Array<Record<string, unknown>>) {
  const response = await call('POST', '/api/usage/track', events);
  expect(response.status, response.text).toBe(200);
  const results = response.json.results as Array<{ status: number }>;
  expect(results.filter((r) => r.status !== 201), response.text).toEqual([]);
}

describe('Trends by a dimension: a property whose text is "(none)" and events without the property', () => {
  it('are two series — the real value named as itself, the missing ones "(no endpoint)" — on the API and the page', async () => {
    const c = await creator();
    const meter = await createMeter(c.call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', rollup_dimensions: ['endpoint'] });
    // Given 3 calls whose endpoint is the text "(none)", one whose text is "(none)" and a U+0001
    // (what a real "(none)" is stored as must not take it in), and 3 with no endpoint value
    const real = Array.from({ length: 3 }, () => ({ event_name: 'calls', user_id: 'ann', properties: { endpoint: '(none)' } }));
    const lookalike = [{ event_name: 'calls', user_id: 'ann', properties: { endpoint: '(none)\u0001' } }];
    const missing = [{}, { endpoint: null }, { endpoint: { path: '/x' } }].map((properties) => ({ event_name: 'calls', user_id: 'bob', properties }));
    await track(c.call, [...real, ...lookalike, ...missing, { event_name: 'calls', user_id: 'bob', properties: { endpoint: '/v1/search' } }]);
    await applyRollupJobs(server().rt, c.creatorId);

    const now = Date.now();
    const from = new Date(Math.floor(now / 86_400_000) * 86_400_000).toISOString();
    const to = new Date(Math.floor(now / 86_400_000) * 86_400_000 + 86_400_000).toISOString();
    const trends = await trpcQuery(c.call, 'insights.trends', { meter_id: meter.id, grain: 'day', breakdown: 'dimension', dimension: 'endpoint', from, to });
    // Then the API keeps them apart: before, all 6 of "(none)" and missing sat in one "(none)" series.
    expect(trends.points[0].values).toEqual({ '(none)': 3, '(no endpoint)': 3, '(none)\u0001': 1, '/v1/search': 1 });
    expect([...trends.series].sort()).toEqual(['(no endpoint)', '(none)', '(none)\u0001', '/v1/search']);

    // Rows written before the escape (a missing value stored as "(none)") are still read as missing:
    // the stored value of a missing property is unchanged, a real "(none)" gets a U+0001 after it.
    const stored = await server().rt.ownerDb.execute<{ dimension_value: string }>(
      sql`select distinct dimension_value from usage_meter_rollups where creator_id = ${c.creatorId} and dimension = 'endpoint' order by 1`,
    );
    expect(stored.map((r) => r.dimension_value)).toEqual(['(none)', '(none)\u0001', '(none)\u0001\u0001', '/v1/search']);

    // And the page's table view has a column for each, headed by its name
    const page = await c.page(`${D}/trends?meter=${meter.id}&range=7d&breakdown=dim:endpoint`);
    expect(page.status).toBe(200);
    const headers = [...page.html.matchAll(/<th[^>]*>([\s\S]*?)<\/th>/g)].map((m) => text(m[1]!).trim());
    expect(headers).toEqual(expect.arrayContaining(['(no endpoint)', '(none)', '/v1/search']));
    expect(headers.filter((h) => h === '(none)')).toHaveLength(1);
  });
});

describe('Units after a quantity of exactly 1 are singular, when they are a plural we know', () => {
  it('"1 call left", "1 call" over, a total of "1 call", "1 second" of an unlimited plan; "GB" stays as typed', async () => {
    const c = await creator();
    const calls = await createMeter(c.call, {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'free', limit_value: 2, overage_price: '1' }],
    });
    await createMeter(c.call, { event_name: 'watch', display_name: 'Watch', aggregation_type: 'duration', unit_name: 'seconds' });
    await createMeter(c.call, { event_name: 'storage', display_name: 'Storage', aggregation_type: 'sum', unit_name: 'GB' });
    expect((await c.call('PUT', '/api/usage/customers/ann', { plan_name: 'free' })).status).toBe(201);
    expect((await c.call('PUT', '/api/usage/customers/bob', { plan_name: 'free' })).status).toBe(201);
    await track(c.call, [
      { event_name: 'calls', user_id: 'ann' },
      { event_name: 'watch', user_id: 'ann', value: 1 },
      { event_name: 'storage', user_id: 'ann', value: 1 },
      ...Array.from({ length: 3 }, () => ({ event_name: 'calls', user_id: 'bob' })),
    ]);
    await applyRollupJobs(server().rt, c.creatorId);

    // The customer page: 1 of 2 calls used, 1 left; the unlimited meters' usage
    const ann = await c.page(`${D}/customers/ann`);
    expect(ann.status).toBe(200);
    const used = byTestId(ann.html, 'meter-used');
    expect(used).toEqual(expect.arrayContaining(['1 / 2 calls', '1 second', '1 GB']));
    expect(text(ann.html)).toContain('1 call left.');
    expect(text(ann.html)).not.toMatch(/\b1 (calls|seconds)\b/);
    // bob is 1 call over
    const bob = await c.page(`${D}/customers/bob`);
    expect(byTestId(bob.html, 'meter-overage', 'span')[0]).toMatch(/^1 call over: \$1\.00/);
    // Trends: this range's total of ann's and bob's calls is 4; of watch time, 1 second
    const trends = await c.page(`${D}/trends?meter=${calls.id}&range=7d`);
    expect(byTestId(trends.html, 'trend-total')[0]).toBe('4 calls');
    const watch = (await c.call('GET', '/api/usage/meters')).json.meters.find((m: { event_name: string }) => m.event_name === 'watch');
    const watchTrends = await c.page(`${D}/trends?meter=${watch.id}&range=7d`);
    expect(byTestId(watchTrends.html, 'trend-total')[0]).toBe('1 second');
  });
});

describe('The events explorer of a minutes meter', () => {
  it('marks the rows its unit rounds ("≈") with the exact seconds they stand for, and says the total is their seconds ÷ 60', async () => {
    const c = await creator();
    await createMeter(c.call, { event_name: 'watch', display_name: 'Watch time', aggregation_type: 'duration', unit_name: 'minutes' });
    // Three 1-second events (each 0.0166… minutes, shown 0.016666667: the three read 0.050000001) and one of a minute
    await track(c.call, [...Array.from({ length: 3 }, () => ({ event_name: 'watch', user_id: 'ann', value: 1 })), { event_name: 'watch', user_id: 'ann', value: 60 }]);
    const page = await c.page(`${D}/customers/ann`);
    expect(page.status).toBe(200);
    const explained = text(/data-testid="events-explained"[\s\S]*?<\/ul>/.exec(page.html)?.[0] ?? '');
    expect(explained).toContain('Watch time: 1.05 minutes = sum of the durations of 4 events in seconds (the Value column), ÷ 60');
    const counted = byTestId(page.html, 'event-counted', 'td');
    expect(counted.filter((c) => c === '≈ +0.016666667 minutes = 1 s ÷ 60')).toHaveLength(3);
    expect(counted).toContain('+1 minute');
  });
});

describe('Trends: the table view gives each point in full', () => {
  it('a day of 312.375000125 GB reads so in "Show as a table" (it read "312"), and the total says it exactly', async () => {
    const c = await creator();
    const storage = await createMeter(c.call, { event_name: 'storage', display_name: 'Storage', aggregation_type: 'sum', unit_name: 'GB' });
    await track(c.call, [
      { event_name: 'storage', user_id: 'ann', value: '312.375' },
      { event_name: 'storage', user_id: 'ann', value: '0.000000125' },
    ]);
    await applyRollupJobs(server().rt, c.creatorId);
    const page = await c.page(`${D}/trends?meter=${storage.id}&range=7d`);
    expect(page.status).toBe(200);
    const cells = [...page.html.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => text(m[1]!).trim());
    expect(cells).toContain('312.375000125');
    expect(cells.filter((cell) => cell !== '0')).toEqual(['312.375000125']);
    expect(/data-testid="trend-total"[^>]*title="([^"]*)"/.exec(page.html)?.[1]).toBe('Exactly 312.375000125 GB');
  });
});

describe('Trends: the previous range', () => {
  it('gives its figure with the unit, as the range’s own total does', async () => {
    const c = await creator();
    const calls = await createMeter(c.call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    await track(c.call, [{ event_name: 'calls', user_id: 'ann' }]);
    await applyRollupJobs(server().rt, c.creatorId);
    const page = await c.page(`${D}/trends?meter=${calls.id}&range=7d&compare=on`);
    expect(page.status).toBe(200);
    expect(byTestId(page.html, 'trend-previous')).toEqual(['0 calls']);
    expect(byTestId(page.html, 'trend-total')).toEqual(['1 call']);
  });
});
