import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { uniqueEmail } from './harness/fixtures.js';
import { isAlive, sleep, useProcessScratch } from './harness/processes.js';

const run = promisify(execFile);
const { url } = await useTestDatabase();
const db = postgres(url, { max: 1, onnotice: () => undefined });
afterAll(() => db.end());
const scratch = useProcessScratch('staryer-review-cli-');

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', ['bin/staryer-usage.mjs', ...args], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', NODE_ENV: 'test', ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const postmasterPid = async (dataDir: string) => {
  const raw = await fs.readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => null);
  return raw ? Number(raw.split('\n')[0]) : null;
};

describe('staryer-usage CLI as an operator uses it: Ctrl-C, stdout for JSON only, exit codes, honest summaries, progress bars, documented commands', () => {
  it('Ctrl-C during a long seed stops the embedded Postgres this command started, as the worker and the server do', async () => {
    const dataDir = await scratch.dataDir();
    const seed = scratch.spawnLogged('node', ['bin/staryer-usage.mjs', 'seed', '--events', '5000000', '--customers', '100', '--meters', '5', '--days', '10'], {
      DATA_DIR: dataDir,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
    });
    let leftPid: number | null = null;
    try {
      for (let i = 0; i < 600 && !seed.output().includes('seed: events') && seed.code() === null; i++) await sleep(100);
      expect(seed.output()).toContain('seed: events');
      const pid = await postmasterPid(dataDir);
      expect(pid).toBeGreaterThan(0);
      seed.child.kill('SIGINT'); // what Ctrl-C sends (the postmaster is detached, so only we get it)
      await seed.exited;
      // Give an orderly stop a moment to finish, then look.
      for (let i = 0; i < 50 && isAlive(pid!); i++) await sleep(100);
      leftPid = isAlive(pid!) ? pid : null;
      expect(leftPid, `the embedded Postgres (pid ${pid}) still runs after the CLI exited on Ctrl-C; output:\n${seed.output()}`).toBeNull();
      expect(await postmasterPid(dataDir)).toBeNull();
    } finally {
      if (leftPid) {
        process.kill(leftPid, 'SIGINT'); // the postmaster this test's CLI started and left behind
        for (let i = 0; i < 100 && isAlive(leftPid); i++) await sleep(100);
      }
    }
  }, 120_000);

  /** A seeded creator whose one period counter is off by one event: what the check exists to catch. */
  async function seedWithOneBadCounter(label: string): Promise<string> {
    const seeded = await cli(['seed', '--email', uniqueEmail(label), '--events', '2000', '--customers', '20', '--meters', '3', '--days', '5', '--seed', '7']);
    expect(seeded.code, seeded.stderr).toBe(0);
    const { creatorId } = JSON.parse(seeded.stdout) as { creatorId: string };
    const [row] = await db`
      update usage_aggregates set event_count = event_count + 1, value = value + 1
      where ctid = (select ctid from usage_aggregates where creator_id = ${creatorId} and "window" = 'period' and event_count > 0 limit 1)
      returning 1`;
    expect(row).toBeDefined();
    return creatorId;
  }

  it('aggregates check: stdout stays one JSON document when there are disagreements (logs belong on stderr)', async () => {
    await seedWithOneBadCounter('check-out');
    // LOG_LEVEL unset, as an operator runs it (the default, info, becomes warn for the CLI).
    const dirty = await cli(['aggregates', 'check'], { LOG_LEVEL: '' });
    const lines = dirty.stdout.trim().split('\n');
    // README: "Output is JSON on stdout" — `staryer-usage aggregates check | jq .disagreements` must work.
    expect(lines.filter((l) => !l.startsWith('{"checkedAt"')), 'pino warn lines ("usage rollups disagree") are mixed into stdout').toEqual([]);
    expect(() => JSON.parse(dirty.stdout)).not.toThrow();
  }, 120_000);

  it('aggregates check exits non-zero when it finds disagreements, so cron or a script notices', async () => {
    await seedWithOneBadCounter('check-exit');
    const dirty = await cli(['aggregates', 'check'], { LOG_LEVEL: 'error' });
    const result = dirty.stdout.trim().split('\n').find((l) => l.startsWith('{"checkedAt"'));
    expect((JSON.parse(result!) as { disagreements: unknown[] }).disagreements.length).toBeGreaterThan(0);
    expect(dirty.code, 'the check found disagreements but exited 0').not.toBe(0);
  }, 120_000);

  it('aggregates rebuild reports the meter rollup rows it leaves, not rows it wrote and pruned again', async () => {
    const email = uniqueEmail('rebuild');
    const seeded = await cli(['seed', '--email', email, '--events', '3000', '--customers', '20', '--meters', '3', '--days', '10', '--seed', '11']);
    expect(seeded.code, seeded.stderr).toBe(0);
    const { creatorId } = JSON.parse(seeded.stdout) as { creatorId: string };
    const rebuilt = await cli(['aggregates', 'rebuild', '--creator', email]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    const summary = JSON.parse(rebuilt.stdout) as { hourRows: number; dayRows: number; meterRows: number };
    const [counts] = await db<Array<{ hours: number; days: number; meter: number }>>`
      select (select count(*)::int from usage_aggregates where creator_id = ${creatorId} and "window" = 'hour') as hours,
             (select count(*)::int from usage_aggregates where creator_id = ${creatorId} and "window" = 'day') as days,
             (select count(*)::int from usage_meter_rollups where creator_id = ${creatorId}) as meter`;
    // hourRows and dayRows match what is in the tables; meterRows should too.
    expect(summary.hourRows).toBe(counts!.hours);
    expect(summary.dayRows).toBe(counts!.days);
    expect(summary.meterRows, 'meterRows counts minute rows of days older than 2 days, pruned in the same run').toBe(counts!.meter);
  }, 120_000);

  it('seed in a terminal: progress bars show real ETAs, never cli-progress placeholders ("ETA LLs", NULL, INF)', async () => {
    // stderr on a pseudo-terminal (script(1)), stdout to a file: the bars are drawn.
    const out = path.join(await scratch.dataDir(), 'out.json');
    const command = `node bin/staryer-usage.mjs seed --email ${uniqueEmail('tty')} --events 300000 --customers 100 --meters 5 --days 10 --seed 3 > ${out}`;
    const { stdout: tty } = await run('script', ['-qfec', command, '/dev/null'], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', NODE_ENV: 'test', COLUMNS: '200' },
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(JSON.parse(await fs.readFile(out, 'utf8'))).toHaveProperty('events', 300000);
    // Frames are separated by carriage returns or the cursor-to-column-1 escape (ESC [1G).
    const frames = tty.split(new RegExp(`${String.fromCharCode(27)}\\[1G|\r`)).filter((f) => f.includes('ETA'));
    expect(frames.some((f) => f.startsWith('rollups'))).toBe(true);
    const garbage = frames.filter((f) => /ETA (LLs|NULL|INF)|ETA [A-Z]/.test(f));
    expect(garbage, 'the first redraw after a bar starts shows "ETA LLs" (cli-progress\'s NaN ETA, "NULL", cut to 2 chars)').toEqual([]);
  }, 120_000);

  it('README documents every command the CLI has (aggregates rebuild is missing from the CLI section)', async () => {
    const readme = await fs.readFile('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## CLI'), readme.indexOf('\n## ', readme.indexOf('## CLI') + 1));
    const help = await cli(['aggregates', '--help']);
    expect(help.stdout).toContain('rebuild');
    expect(section, 'README "CLI" lists no `aggregates rebuild`, though the CLI has it').toContain('aggregates rebuild');
  }, 60_000);

  it('--version prints the version of package.json alone on stdout, exit 0, touching no database', async () => {
    const { version } = JSON.parse(await fs.readFile('package.json', 'utf8')) as { version: string };
    // DATABASE_URL pointing nowhere: the answer must not need one (it was "error: unknown option '--version'", exit 1).
    const answer = await cli(['--version'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect({ code: answer.code, stdout: answer.stdout }).toEqual({ code: 0, stdout: `${version}\n` });
  }, 60_000);
});
