import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { repairPeriodCounters } from '../server/services/counter-repair.js';
import { checkConsistency } from '../server/services/rollups.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * `staryer-usage aggregates repair`: a period counter that disagrees with its raw events (what
 * `aggregates check` reports) is set back to what the events give, and the next event is judged
 * by the repaired figure — also by a server that kept the wrong one in memory.
 */
const run = promisify(execFile);
const { url } = await useTestDatabase();
const db = postgres(url, { max: 2, onnotice: () => undefined });
const server = useTestServer(url);
afterAll(() => db.end());

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', ['bin/staryer-usage.mjs', ...args], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'error', NODE_ENV: 'test' },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function creator() {
  const { apiKey, creator: c, email } = await createCreatorWithKey(server().rt);
  return { call: api(server().url, apiKey), creatorId: c.id, email };
}

const counterOf = async (creatorId: string, meterId: string) => {
  const [row] = await db<Array<{ value: string; event_count: string }>>`
    select value::text, event_count from usage_aggregates where creator_id = ${creatorId} and meter_id = ${meterId} and "window" = 'period'`;
  return row ? { value: row.value, eventCount: Number(row.event_count) } : null;
};

const periodDisagreements = async (creatorId: string) =>
  (await checkConsistency(server().rt, { creatorIds: [creatorId] })).disagreements.filter((d) => d.kind === 'period_vs_events');

describe('aggregates repair: period counters set back to their raw events', () => {
  it('a hard cap is enforced on the repaired counter, by a server that judged from the wrong one in memory', async () => {
    const { call, creatorId } = await creator();
    const meter = await createMeter(call, {
      event_name: 'calls',
      display_name: 'Calls',
      unit_name: 'calls',
      aggregation_type: 'sum',
      plan_limits: [{ plan_name: 'free', limit_value: 100, hard_cap: true }],
    });
    expect((await call('PUT', '/api/usage/customers/u', { plan_name: 'free' })).status).toBe(201);
    const track = (value: number) => call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value });
    expect((await track(30)).status).toBe(201);
    expect((await track(30)).status).toBe(201);
    // A counter gone wrong (by hand, or a bug): 60 recorded, the counter says 10.
    await db`update usage_aggregates set value = 10, event_count = 1 where creator_id = ${creatorId} and meter_id = ${meter.id} and "window" = 'period'`;
    expect(await periodDisagreements(creatorId)).toHaveLength(1);

    const progress: Array<[number, number]> = [];
    const result = await repairPeriodCounters(server().rt, creatorId, { onProgress: (done, total) => progress.push([done, total]) });
    expect(result).toMatchObject({ creatorId, dryRun: false, repaired: 1, left: 0 });
    // The CLI's bar: the scan, then the one counter it found.
    expect(progress).toEqual([
      [0, 1],
      [1, 2],
      [1, 2],
      [2, 2],
    ]);
    expect(result.counters).toEqual([
      expect.objectContaining({
        eventName: 'calls',
        userId: 'u',
        aggregationType: 'sum',
        before: { value: '10', eventCount: 1 },
        after: { value: '60', eventCount: 2 },
        repaired: true,
      }),
    ]);
    expect(await counterOf(creatorId, meter.id)).toEqual({ value: '60', eventCount: 2 });
    expect(await periodDisagreements(creatorId)).toEqual([]);

    // 60 used of 100: 50 more would pass the cap (on the wrong counter it was 10 + 50 = 60: accepted).
    const refused = await track(50);
    expect(refused.status, refused.text).toBe(402);
    expect(refused.json).toMatchObject({ used: '60', limit: '100', remaining: '40' });
    expect((await track(40)).status).toBe(201);
    expect((await track(1)).status).toBe(402);
    expect(await counterOf(creatorId, meter.id)).toEqual({ value: '100', eventCount: 3 });
  });

  it('a unique counter gets its distinct values back, keyed as ingest keys them: a value seen before is not counted again', async () => {
    const { call, creatorId } = await creator();
    const meter = await createMeter(call, {
      event_name: 'seats',
      display_name: 'Seats',
      unit_name: 'seats',
      aggregation_type: 'unique',
      unique_property: 'seat',
    });
    const track = (seat: unknown) => call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'u', properties: { seat } });
    const used = async () => {
      const usage = await call('GET', '/api/usage/customers/u/usage');
      expect(usage.status, usage.text).toBe(200);
      return usage.json.meters.find((m: { event_name: string }) => m.event_name === 'seats').used as string;
    };
    for (const seat of ['a', 'b', 'a', { x: 1, y: 2 }, 7]) expect((await track(seat)).status).toBe(201);
    expect(await used()).toBe('4');
    // Both wrong: the counter and the stored values (an operator's DELETE, say).
    await db`delete from usage_unique_values where creator_id = ${creatorId} and meter_id = ${meter.id}`;
    await db`update usage_aggregates set value = 0 where creator_id = ${creatorId} and meter_id = ${meter.id} and "window" = 'period'`;
    expect(await used()).toBe('0');

    const result = await repairPeriodCounters(server().rt, creatorId);
    expect(result.counters).toEqual([expect.objectContaining({ before: { value: '0', eventCount: 5 }, after: { value: '4', eventCount: 5 }, repaired: true })]);
    expect(await used()).toBe('4');
    // Seen before, whatever the order of an object's keys: not counted again.
    for (const seat of ['a', { y: 2, x: 1 }, 7]) expect((await track(seat)).status).toBe(201);
    expect(await used()).toBe('4');
    expect((await track('c')).status).toBe(201);
    expect(await used()).toBe('5');
    expect(await periodDisagreements(creatorId)).toEqual([]);
  });

  it('events arriving while a repair runs are all counted once: the repair and the group commits do not lose each other’s writes', async () => {
    const { call, creatorId } = await creator();
    const meter = await createMeter(call, { event_name: 'hits', display_name: 'Hits', unit_name: 'hits', aggregation_type: 'count' });
    const track = (i: number) => call('POST', '/api/usage/track', { event_name: 'hits', user_id: `u${i % 5}`, idempotency_key: `k${i}` });
    for (let i = 0; i < 10; i++) expect((await track(i)).status).toBe(201);
    await db`update usage_aggregates set value = value + 3, event_count = event_count + 3 where creator_id = ${creatorId} and meter_id = ${meter.id} and "window" = 'period'`;

    const during = Promise.all(Array.from({ length: 200 }, (_, i) => track(10 + i)));
    const repairs = Promise.all([repairPeriodCounters(server().rt, creatorId), repairPeriodCounters(server().rt, creatorId)]);
    const answers = await during;
    expect(answers.map((a) => a.status).filter((s) => s !== 201)).toEqual([]);
    const [first, second] = await repairs;
    // Five customers' counters were each wrong by 3: one repair mended them, the other found nothing left.
    expect(first.repaired + second.repaired).toBe(5);
    expect(await periodDisagreements(creatorId)).toEqual([]);
    const [total] = await db<Array<{ n: string }>>`
      select sum(value)::text as n from usage_aggregates where creator_id = ${creatorId} and meter_id = ${meter.id} and "window" = 'period'`;
    expect(total!.n).toBe('210');
  });

  it('a repair waits for the group commits in flight (each holds the creator’s configuration lock shared until it commits)', async () => {
    const { call, creatorId } = await creator();
    const meter = await createMeter(call, { event_name: 'hits', display_name: 'Hits', unit_name: 'hits', aggregation_type: 'count' });
    expect((await call('POST', '/api/usage/track', { event_name: 'hits', user_id: 'u' })).status).toBe(201);
    await db`update usage_aggregates set value = 7 where creator_id = ${creatorId} and meter_id = ${meter.id} and "window" = 'period'`;
    // What a group commit holds from its first statement to its COMMIT.
    const group = await db.reserve();
    try {
      await group`begin`;
      await group`select pg_advisory_xact_lock_shared(hashtextextended(${`config|${creatorId}`}, 0))`;
      let settled = false;
      const repair = repairPeriodCounters(server().rt, creatorId).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(settled, 'the repair wrote while a group commit of the creator was in flight').toBe(false);
      await group`commit`;
      expect((await repair).repaired).toBe(1);
    } finally {
      group.release();
    }
    expect(await counterOf(creatorId, meter.id)).toEqual({ value: '1', eventCount: 1 });
  });

  it('the CLI: --dry-run says what it would change and changes nothing (exit 5); the repair exits 0 and the check is clean after it', async () => {
    const { call, creatorId, email } = await creator();
    const meter = await createMeter(call, { event_name: 'gb', display_name: 'Storage', unit_name: 'GB', aggregation_type: 'max' });
    for (const value of [3, 9.5, 4]) expect((await call('POST', '/api/usage/track', { event_name: 'gb', user_id: 'u', value })).status).toBe(201);
    await db`update usage_aggregates set value = 4 where creator_id = ${creatorId} and meter_id = ${meter.id} and "window" = 'period'`;

    const dry = await cli(['aggregates', 'repair', '--creator', email, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(5);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      dryRun: true,
      repaired: 0,
      left: 1,
      counters: [{ eventName: 'gb', userId: 'u', before: { value: '4', eventCount: 3 }, after: { value: '9.5', eventCount: 3 }, repaired: false, reason: 'dry run' }],
    });
    expect(await counterOf(creatorId, meter.id)).toEqual({ value: '4', eventCount: 3 });

    const repaired = await cli(['aggregates', 'repair', '--creator', email]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(JSON.parse(repaired.stdout)).toMatchObject({ dryRun: false, repaired: 1, left: 0 });
    expect(await counterOf(creatorId, meter.id)).toEqual({ value: '9.5', eventCount: 3 });

    const again = await cli(['aggregates', 'repair', '--creator', email]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ repaired: 0, left: 0, counters: [] });

    const unknown = await cli(['aggregates', 'repair', '--creator', 'nobody@example.com']);
    expect(unknown.code).toBe(3);
    const bad = await cli(['aggregates', 'repair', '--creator', email, '--since', 'yesterday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('since must be an ISO 8601 timestamp');
  }, 120_000);
});
