import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { D, toWireRounded } from '../server/services/decimal.js';
import { AppError } from '../server/errors.js';
import { logIn } from '../server/services/creators.js';
import { checkConsistency } from '../server/services/rollups.js';
import { seedDemo, type SeedResult } from '../server/services/seed.js';
import { useTestDatabase } from './harness/db.js';
import { ownerSql } from './harness/digest.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer } from './harness/server.js';

const run = promisify(execFile);
const { url } = await useTestDatabase();
const server = await startTestServer(url);
const sql = ownerSql(url);
afterAll(async () => {
  await sql.end();
  await server.close();
});

const EMAIL = 'seeded-demo@example.com';
const PASSWORD = 'seeded demo passphrase';
const SMALL = { email: EMAIL, password: PASSWORD, events: 20_000, customers: 50, meters: 6, days: 45, seed: 42 };

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', ['bin/staryer-usage.mjs', ...args], { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', NODE_ENV: 'test' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A customer's current-period usage per meter, computed here from raw events alone (in each meter's unit). */
async function usageFromRawEvents(creatorId: string, userId: string): Promise<Map<string, string>> {
  const rows = await sql<Array<{ event_name: string; aggregation_type: string; unit_name: string; n: string; s: string; mx: string; d: string }>>`
    with c as (
      select customer_id, max(period_start) as period_start from usage_events
      where creator_id = ${creatorId} and user_id = ${userId} group by 1
    )
    select m.event_name, m.aggregation_type::text, m.unit_name, count(*)::text as n, sum(e.value)::text as s, max(e.value)::text as mx,
      count(distinct e.properties -> m.unique_property)::text as d
    from usage_events e
    join c on c.customer_id = e.customer_id and c.period_start = e.period_start
    join usage_meters m on m.creator_id = e.creator_id and m.meter_id = e.meter_id
    where e.creator_id = ${creatorId}
    group by 1, 2, 3`;
  const perUnit: Record<string, D> = { minutes: new D(60), hours: new D(3600), seconds: new D(1), ms: new D('0.001') };
  return new Map(
    rows.map((r) => {
      const base = { count: r.n, sum: r.s, max: r.mx, unique: r.d, duration: r.s }[r.aggregation_type]!;
      const used = r.aggregation_type === 'duration' ? new D(base).dividedBy(perUnit[r.unit_name]!) : new D(base);
      return [r.event_name, toWireRounded(used)];
    }),
  );
}

describe('staryer-usage seed', () => {
  let seeded: SeedResult;

  it('seeds a demo creator whose counters and rollups agree with its raw events', async () => {
    seeded = await seedDemo(server.rt, SMALL);
    expect(seeded).toMatchObject({ email: EMAIL, password: PASSWORD, events: 20_000, customers: 50, meters: 6, appended: false });
    const [{ n }] = await sql<[{ n: number }]>`select count(*)::int as n from usage_events where creator_id = ${seeded.creatorId}`;
    expect(n).toBe(20_000);
    const meters = await sql<Array<{ aggregation_type: string }>>`select aggregation_type::text from usage_meters where creator_id = ${seeded.creatorId}`;
    expect(new Set(meters.map((m) => m.aggregation_type))).toEqual(new Set(['count', 'sum', 'max', 'unique', 'duration']));
    const report = await checkConsistency(server.rt, { since: new Date(Date.now() - 200 * 86_400_000), creatorIds: [seeded.creatorId] });
    expect(report.disagreements).toEqual([]);
    // Meter-wide rollups (charts) add up to the customer windows, per grain; the last days have minutes.
    const grains = await sql<Array<{ grain: string; meter: string; customers: string }>>`
      select r.grain, sum(r.event_count)::text as meter,
        (select sum(event_count) from usage_aggregates a where a.creator_id = r.creator_id and a."window"::text = r.grain)::text as customers
      from usage_meter_rollups r where r.creator_id = ${seeded.creatorId} and r.dimension = '' and r.grain in ('hour', 'day')
      group by r.grain, r.creator_id`;
    expect(grains).toHaveLength(2);
    for (const g of grains) expect(g.meter).toBe(g.customers);
    const [{ minutes }] = await sql<[{ minutes: number }]>`select count(*)::int as minutes from usage_meter_rollups where creator_id = ${seeded.creatorId} and grain = 'minute'`;
    expect(minutes).toBeGreaterThan(0);
    // Some customers went over their limits: alerts exist, open ones in the current period only.
    const alerts = await sql<Array<{ status: string; open_period: boolean }>>`
      select status::text, period_end > now() as open_period from usage_alerts where creator_id = ${seeded.creatorId}`;
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.some((a) => a.status === 'open')).toBe(true);
    expect(alerts.every((a) => (a.status === 'open') === a.open_period)).toBe(true);
    // Hard caps held: no free customer's counter is above a hard-capped limit.
    const [{ over }] = await sql<[{ over: number }]>`
      select count(*)::int as over from usage_aggregates a
      join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
      join usage_meters m on m.creator_id = a.creator_id and m.meter_id = a.meter_id
      join meter_plan_limits l on l.creator_id = a.creator_id and l.meter_id = a.meter_id and l.plan_name = c.plan_name and l.effective_to is null
      where a.creator_id = ${seeded.creatorId} and a."window" = 'period' and l.hard_cap
        and a.value > l.limit_value * case m.unit_name when 'minutes' then 60 when 'hours' then 3600 else 1 end`;
    expect(over).toBe(0);
  }, 120_000);

  it('answers a seeded customer’s usage as its raw events say', async () => {
    const client = api(server.url, seeded.apiKey!);
    for (const userId of [seeded.heaviestUserId, 'user_00007', 'user_00050']) {
      const usage = await client('GET', `/api/usage/customers/${userId}/usage`);
      expect(usage.status).toBe(200);
      const expected = await usageFromRawEvents(seeded.creatorId, userId);
      const answered = new Map((usage.json.meters as Array<{ event_name: string; used: string }>).map((m) => [m.event_name, m.used]));
      for (const [eventName, used] of expected) expect({ eventName, used: answered.get(eventName) }).toEqual({ eventName, used });
    }
  });

  it('counts a real event on top of seeded data', async () => {
    const client = api(server.url, seeded.apiKey!);
    const usedOf = async (eventName: string) => {
      const usage = await client('GET', `/api/usage/customers/${seeded.heaviestUserId}/usage`);
      return (usage.json.meters as Array<{ event_name: string; used: string }>).find((m) => m.event_name === eventName)?.used ?? '0';
    };
    const calls = await usedOf('api_calls');
    const tracked = await client('POST', '/api/usage/track', { event_name: 'api_calls', user_id: seeded.heaviestUserId });
    expect(tracked.status).toBe(201);
    expect(tracked.json.usage.used).toBe(new D(calls).plus(1).toFixed());
    expect(await usedOf('api_calls')).toBe(new D(calls).plus(1).toFixed());

    // A unique meter: a new project counts once, a project seen before this period not again.
    const projects = await usedOf('active_projects');
    const fresh = await client('POST', '/api/usage/track', { event_name: 'active_projects', user_id: seeded.heaviestUserId, properties: { project_id: 'proj_brand_new' } });
    expect(fresh.status).toBe(201);
    expect(fresh.json.usage.used).toBe(new D(projects).plus(1).toFixed());
    const [seen] = await sql<Array<{ p: string }>>`
      select e.properties ->> 'project_id' as p from usage_events e
      where e.creator_id = ${seeded.creatorId} and e.user_id = ${seeded.heaviestUserId} and e.event_name = 'active_projects'
        and e.period_start = (select max(period_start) from usage_events where creator_id = ${seeded.creatorId} and user_id = ${seeded.heaviestUserId})
        and e.properties ? 'project_id' limit 1`;
    if (seen) {
      const again = await client('POST', '/api/usage/track', { event_name: 'active_projects', user_id: seeded.heaviestUserId, properties: { project_id: seen.p } });
      expect(again.status).toBe(201);
      expect(again.json.usage.used).toBe(new D(projects).plus(1).toFixed());
    }
  });

  it('lets the seeded creator log in with the printed password', async () => {
    const grant = await logIn(server.rt, { email: EMAIL, password: PASSWORD }, { ip: '127.0.0.1', userAgent: 'test' });
    expect(grant.creatorId).toBe(seeded.creatorId);
  });

  it('refuses to seed the same email again unless appending, and appends exactly', async () => {
    const again = seedDemo(server.rt, SMALL);
    await expect(again).rejects.toBeInstanceOf(AppError);
    await expect(again).rejects.toMatchObject({ code: 'seed_creator_exists', detail: expect.stringContaining('--append') });

    const countEvents = async () => (await sql<[{ n: number }]>`select count(*)::int as n from usage_events where creator_id = ${seeded.creatorId}`)[0].n;
    const before = await countEvents();
    const appended = await seedDemo(server.rt, { ...SMALL, events: 5_000, append: true, seed: 43 });
    expect(appended).toMatchObject({ appended: true, creatorId: seeded.creatorId, password: null, apiKey: null });
    expect(await countEvents()).toBe(before + 5_000);
    const report = await checkConsistency(server.rt, { since: new Date(Date.now() - 200 * 86_400_000), creatorIds: [seeded.creatorId] });
    expect(report.disagreements).toEqual([]);
  }, 120_000);

  it('--reset and --append refuse a creator seed did not make: nothing is deleted or added (it deleted a real account)', async () => {
    const { apiKey } = await createCreatorWithKey(server.rt, { email: 'real-creator@example.com' });
    expect((await api(server.url, apiKey)('POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' })).status).toBe(201);
    expect((await api(server.url, apiKey)('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'cust_1' })).status).toBe(201);
    const creatorRows = async () => (await sql<[{ n: number }]>`select count(*)::int as n from creators where lower(email) = 'real-creator@example.com'`)[0].n;
    for (const flag of ['reset', 'append'] as const) {
      const refused = seedDemo(server.rt, { ...SMALL, email: 'real-creator@example.com', events: 100, [flag]: true });
      await expect(refused).rejects.toMatchObject({ code: 'seed_creator_not_demo', detail: expect.stringContaining(`--${flag}`) });
      expect(await creatorRows()).toBe(1);
    }
    // Its one real event, and no demo one.
    expect((await sql`select 1 from usage_events e join creators c using (creator_id) where lower(c.email) = 'real-creator@example.com'`).length).toBe(1);
  }, 60_000);

  it('refuses bad flags with a message naming the flag', async () => {
    const negative = await cli('seed', '--events', '-1');
    expect(negative.code).not.toBe(0);
    expect(negative.stderr).toContain('--events must be at least 1');
    const noMeters = await cli('seed', '--meters', '0');
    expect(noMeters.code).not.toBe(0);
    expect(noMeters.stderr).toContain('--meters must be at least 1');
    const both = await cli('seed', '--append', '--reset');
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('--append and --reset cannot be combined');
    await expect(seedDemo(server.rt, { ...SMALL, email: 'other@example.com', events: 0 })).rejects.toMatchObject({
      errors: [{ field: 'events', message: expect.stringContaining('whole number') }],
    });
  }, 60_000);
});
