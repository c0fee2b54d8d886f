import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { withDatabase } from '../db/client.js';
import { useTestDatabase } from './harness/db.js';
import { uniqueEmail } from './harness/fixtures.js';
import { isAlive, sleep, useProcessScratch } from './harness/processes.js';

/**
 * The CLI as an operator runs it: two commands at once on one DATA_DIR, a DATABASE_URL or
 * DATA_DIR that cannot be used, seed without a superuser, progress of the check — what the
 * operator should observe per README's "CLI" section.
 */
const run = promisify(execFile);
const { url } = await useTestDatabase();
const serverUrl = withDatabase(url, 'postgres');
const scratch = useProcessScratch('staryer-cli-ops-');
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}, 90_000);

const STACK = /\n\s+at /;

async function cli(args: string[], env: Record<string, string> = {}, options: { uid?: number; gid?: number } = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/staryer-usage.mjs', ...args], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', NODE_ENV: 'test', ...env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 90_000,
      ...options,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function asSuperuser<T>(fn: (sql: postgres.Sql) => Promise<T>, database = serverUrl): Promise<T> {
  const sql = postgres(database, { max: 1, onnotice: () => undefined });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

/** A TCP port on this machine that nothing listens on (Postgres not started, a wrong port). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('two CLI commands at once on one DATA_DIR (no server running)', () => {
  it('a command that started the embedded Postgres does not stop it under another command still using it', async () => {
    const dataDir = await scratch.dataDir();
    const env = { DATA_DIR: dataDir, DATABASE_URL: '', NODE_ENV: 'test', LOG_LEVEL: 'warn' };
    // The cluster exists and is migrated, as after a first `migrate`.
    const migrated = await cli(['migrate'], env);
    expect(migrated.code, migrated.stderr).toBe(0);

    // A: a short seed, which starts the embedded Postgres (no server runs).
    const a = scratch.spawnLogged(process.execPath, ['bin/staryer-usage.mjs', 'seed', '--email', uniqueEmail('short'), '--events', '30000', '--customers', '20', '--meters', '3', '--days', '3', '--seed', '1'], env);
    for (let i = 0; i < 600 && !a.output().includes('seed: events') && a.code() === null; i++) await sleep(50);
    expect(a.output()).toContain('seed: events');
    // B: a longer seed started meanwhile, in another terminal: it reuses A's Postgres.
    const b = scratch.spawnLogged(process.execPath, ['bin/staryer-usage.mjs', 'seed', '--email', uniqueEmail('long'), '--events', '800000', '--customers', '50', '--meters', '3', '--days', '5', '--seed', '2'], env);
    const [codeA, codeB] = await Promise.all([a.exited, b.exited]);
    expect(codeA, a.output()).toBe(0);
    // What the operator of B sees: B's work done, its summary printed; not "CONNECTION_CLOSED" with a stack.
    expect(
      { exit: codeB, stack: STACK.test(b.output()), printedSummary: b.output().includes('"events":800000') },
      b.output().slice(-1500),
    ).toEqual({ exit: 0, stack: false, printedSummary: true });
    // Nothing left running once both are done.
    const raw = await fs.readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => null);
    const pid = raw ? Number(raw.split('\n')[0]) : 0;
    if (pid && isAlive(pid)) {
      process.kill(pid, 'SIGINT');
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
    }
  }, 120_000);
});

describe('a DATABASE_URL that does not answer', () => {
  it('nothing listening on its port (Postgres not started): a sentence naming DATABASE_URL, exit 1, no stack trace', async () => {
    const port = await closedPort();
    const databaseUrl = `postgres://postgres:secret@127.0.0.1:${port}/staryer`;
    const seen: Record<string, { code: number; namesIt: boolean; stack: boolean }> = {};
    for (const args of [['migrate'], ['creator', 'create', '--email', uniqueEmail('refused'), '--name', 'X'], ['aggregates', 'check']]) {
      const result = await cli(args, { DATABASE_URL: databaseUrl });
      seen[args.join(' ')] = { code: result.code, namesIt: result.stderr.includes('DATABASE_URL'), stack: STACK.test(result.stderr) };
    }
    expect(seen, JSON.stringify(seen)).toEqual(Object.fromEntries(Object.keys(seen).map((k) => [k, { code: 1, namesIt: true, stack: false }])));
  }, 60_000);
});

const canDropPrivileges = process.getuid?.() === 0 && (() => {
  try {
    execFileSync('sh', ['-c', 'command -v setpriv']);
    return true;
  } catch {
    return false;
  }
})();

describe('a DATA_DIR the operator cannot write to', () => {
  it.skipIf(!canDropPrivileges)('an existing DATA_DIR that is not writable: a sentence naming DATA_DIR, exit 78 (configuration), no stack trace', async () => {
    // Owned by root, mode 0755; the CLI run as an unprivileged user (nobody), as an operator without rights to it.
    const dataDir = await scratch.dataDir();
    const result = await cli(['migrate'], { DATA_DIR: dataDir, DATABASE_URL: '', HOME: '/tmp' }, { uid: 65534, gid: 65534 });
    expect({ code: result.code, namesDataDir: result.stderr.includes('DATA_DIR'), stack: STACK.test(result.stderr) }, result.stderr).toEqual({
      code: 78,
      namesDataDir: true,
      stack: false,
    });
  }, 60_000);
});

describe('seed on a DATABASE_URL whose owner is not a superuser (README: COPY needs one)', () => {
  it('is refused with a sentence saying so, no stack trace, and changes nothing (a second try is not told the creator already exists)', async () => {
    const owner = `review_cli_owner_${randomBytes(4).toString('hex')}`;
    const database = `review_cli_db_${randomBytes(4).toString('hex')}`;
    await asSuperuser(async (sql) => {
      await sql.unsafe(`create role ${owner} login password 'review-pw' nosuperuser nobypassrls createrole in role staryer_app`);
      await sql.unsafe(`create database ${database} owner ${owner}`);
    });
    cleanups.push(() =>
      asSuperuser(async (sql) => {
        await sql.unsafe(`drop database if exists ${database} with (force)`);
        await sql.unsafe(`drop role if exists ${owner}`);
      }),
    );
    const login = new URL(withDatabase(url, database));
    login.username = owner;
    login.password = 'review-pw';
    const env = { DATABASE_URL: login.toString() };
    expect((await cli(['migrate'], env)).code).toBe(0);

    const email = uniqueEmail('nosuper');
    const args = ['seed', '--email', email, '--events', '1000', '--customers', '5', '--meters', '2', '--days', '2'];
    const first = await cli(args, env);
    const [{ n }] = await asSuperuser((sql) => sql<[{ n: number }]>`select count(*)::int as n from creators where email = ${email}`, withDatabase(url, database));
    const second = await cli(args, env);
    expect(
      {
        failed: first.code !== 0,
        stack: STACK.test(first.stderr),
        saysSuperuser: /superuser/i.test(first.stderr),
        creatorsLeftBehind: n,
        secondToldAlreadyExists: second.stderr.includes('already exists'),
      },
      `first:\n${first.stderr.slice(0, 1200)}\nsecond:\n${second.stderr.slice(0, 400)}`,
    ).toEqual({ failed: true, stack: false, saysSuperuser: true, creatorsLeftBehind: 0, secondToldAlreadyExists: false });
  }, 90_000);
});

describe('progress of long work', () => {
  it('aggregates check on a terminal shows progress on stderr (it reads every creator’s raw events: ≈ 6 s per million, silent)', async () => {
    const seeded = await cli(['seed', '--email', uniqueEmail('chk'), '--events', '3000', '--customers', '10', '--meters', '3', '--days', '5', '--seed', '4']);
    expect(seeded.code, seeded.stderr).toBe(0);
    const dir = await scratch.dataDir();
    const out = path.join(dir, 'check.json');
    // stderr on a pseudo-terminal (script(1)), stdout to a file, as seed's own progress test does.
    const { stdout: tty } = await run('script', ['-qfec', `node bin/staryer-usage.mjs aggregates check > ${out}`, '/dev/null'], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', NODE_ENV: 'test', COLUMNS: '200' },
    });
    expect(JSON.parse(await fs.readFile(out, 'utf8'))).toHaveProperty('disagreements', []);
    // A cli-progress bar (as seed and aggregates rebuild draw), or at least a progress line.
    expect(tty.trim(), 'aggregates check wrote nothing to the terminal while it ran').not.toBe('');
  }, 60_000);
});
