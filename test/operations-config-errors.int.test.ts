import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { withDatabase } from '../db/client.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { EnvError, parseEnv } from '../server/env.js';
import { useTestDatabase } from './harness/db.js';
import { isAlive, sleep, useProcessScratch } from './harness/processes.js';
import { startTestServer } from './harness/server.js';

/**
 * Self-hosting and operations, as an operator sees them (review, 2026-11-27): each test
 * states what an operator should observe, and fails on the code it was written against.
 */
const run = promisify(execFile);
const { url } = await useTestDatabase();
const serverUrl = withDatabase(url, 'postgres');
const { dataDir, spawnLogged } = useProcessScratch('staryer-review-ops-');
/** Pids of processes a test started indirectly (a server under npm), to be stopped at the end. */
const strays: Array<{ pid: number; signal: NodeJS.Signals }> = [];
const cleanups: Array<() => Promise<unknown>> = [];


async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', ms = 25_000) {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  for (let waited = 0; waited < ms && isAlive(pid); waited += 100) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

afterAll(async () => {
  for (const { pid, signal } of strays) await stopPid(pid, signal);
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}, 90_000);

const startServer = (env: Record<string, string>) => spawnLogged('node', ['--import', 'tsx', 'server/main.ts'], env);

/** Resolves 'ready' once the server says so, or its exit code if it exits first (or 'timeout'). */
async function readyOrExit(server: ReturnType<typeof startServer>, ms = 60_000): Promise<'ready' | 'timeout' | number> {
  let code: number | null = null;
  void server.exited.then((c) => (code = c));
  for (let waited = 0; waited < ms; waited += 100) {
    if (server.output().includes('is ready')) return 'ready';
    if (code !== null) return code;
    await sleep(100);
  }
  return 'timeout';
}

const portOf = (output: string) => Number(/"port":(\d+)[^\n]*is ready/.exec(output)?.[1]);

async function cli(env: Record<string, string>, ...args: string[]) {
  try {
    const { stdout, stderr } = await run('node', ['bin/staryer-usage.mjs', ...args], { env: { ...process.env, LOG_LEVEL: 'warn', NODE_ENV: 'test', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A login role and/or database on the test cluster, dropped at the end. */
async function asSuperuser<T>(fn: (sql: postgres.Sql) => Promise<T>, database = serverUrl): Promise<T> {
  const sql = postgres(database, { max: 1, onnotice: () => undefined });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

function loginUrl(user: string, password: string, database: string) {
  const parsed = new URL(withDatabase(url, database));
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
}

async function makeLogin(options: { memberOfApp: boolean }) {
  const name = `review_login_${randomBytes(4).toString('hex')}`;
  await asSuperuser((sql) => sql.unsafe(`create role ${name} login password 'review-pw' nosuperuser nobypassrls${options.memberOfApp ? ' in role staryer_app' : ''}`));
  cleanups.push(() => asSuperuser((sql) => sql.unsafe(`drop role if exists ${name}`)));
  return name;
}

const STACK = /\n\s+at /;

describe('npm start under a process manager', () => {
  it('a SIGTERM sent to `npm start` (docker stop, a supervisor stopping its main pid) stops the server as a SIGTERM to the server does: answers drained, Postgres stopped, exit', async () => {
    const dir = await dataDir();
    // The build step is not under test (and rewrites build/): an `npm` first in PATH that does nothing
    // stands in for `npm run build --silent`; the `npm start` that runs the script is the real one.
    const stubs = await dataDir();
    await fs.writeFile(path.join(stubs, 'npm'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const realNpm = execFileSync('sh', ['-c', 'command -v npm']).toString().trim();
    const npm = spawnLogged(realNpm, ['start', '--silent'], { DATA_DIR: dir, PATH: `${stubs}:${process.env.PATH}` });
    expect(await readyOrExit(npm), npm.output()).toBe('ready');
    const serverPid = Number(await fs.readFile(path.join(dir, 'pg.owner'), 'utf8'));
    const postmasterPid = Number((await fs.readFile(path.join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    strays.push({ pid: serverPid, signal: 'SIGTERM' }, { pid: postmasterPid, signal: 'SIGINT' });
    expect(serverPid).not.toBe(npm.child.pid);

    npm.child.kill('SIGTERM');
    let waited = 0;
    for (; waited < 25_000 && (isAlive(serverPid) || isAlive(postmasterPid)); waited += 100) await sleep(100);
    // What an operator sees: after `docker stop`, is the server still running, and did it shut down in order?
    expect(
      { serverRunning: isAlive(serverPid), postgresRunning: isAlive(postmasterPid), saidShuttingDown: npm.output().includes('shutting down') },
      npm.output().slice(-2000),
    ).toEqual({ serverRunning: false, postgresRunning: false, saidShuttingDown: true });
  }, 120_000);
});

describe('STARYER_BOOTSTRAP_*', () => {
  it('a changed STARYER_BOOTSTRAP_EMAIL with the same key: refused as a configuration error (78, a sentence naming the variables, no stack), and no second creator is left behind', async () => {
    const key = `review-bootstrap-key-${randomBytes(12).toString('hex')}`;
    const first = `ops-${randomBytes(3).toString('hex')}@example.com`;
    const second = `ops-new-${randomBytes(3).toString('hex')}@example.com`;
    const env = { DATABASE_URL: url, STARYER_BOOTSTRAP_PASSWORD: 'a long bootstrap passphrase', STARYER_BOOTSTRAP_API_KEY: key };

    const a = startServer({ ...env, STARYER_BOOTSTRAP_EMAIL: first });
    expect(await readyOrExit(a), a.output()).toBe('ready');
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);

    const b = startServer({ ...env, STARYER_BOOTSTRAP_EMAIL: second });
    const outcome = await readyOrExit(b);
    if (outcome === 'ready') b.child.kill('SIGTERM');
    await b.exited;
    const leftBehind = await asSuperuser((sql) => sql.unsafe(`select count(*)::int as n from creators where lower(email) = lower($1)`, [second]).then((rows) => rows[0]!.n as number), url);
    const output = b.output();
    expect(
      { outcome, namesTheVariable: /STARYER_BOOTSTRAP_(API_KEY|EMAIL)/.test(output), stack: STACK.test(output) || output.includes('[AppError'), creatorsCreatedForTheNewEmail: leftBehind },
      output.slice(-1500),
    ).toEqual({ outcome: 78, namesTheVariable: true, stack: false, creatorsCreatedForTheNewEmail: 0 });
  }, 120_000);
});

describe('DATABASE_URL that the server reaches but cannot log into', () => {
  it('a wrong password or a database that does not exist: a sentence naming DATABASE_URL and the reason, not a driver stack trace (server and CLI)', async () => {
    const wrongPassword = new URL(url);
    wrongPassword.password = 'not-the-password';
    const noDatabase = withDatabase(url, `review_missing_${randomBytes(3).toString('hex')}`);
    const seen: Record<string, { code: number; namesDatabaseUrl: boolean; stack: boolean }> = {};
    for (const [label, databaseUrl] of [
      ['wrong password', wrongPassword.toString()],
      ['missing database', noDatabase],
    ] as const) {
      // warn: the "connecting to DATABASE_URL" line would name the variable whatever happens next.
      const server = startServer({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' });
      const code = await readyOrExit(server);
      if (code === 'ready') server.child.kill('SIGTERM');
      const out = server.output();
      seen[`server, ${label}`] = { code: typeof code === 'number' ? code : -99, namesDatabaseUrl: out.includes('DATABASE_URL'), stack: STACK.test(out) };
      const migrate = await cli({ DATABASE_URL: databaseUrl }, 'migrate');
      seen[`cli migrate, ${label}`] = { code: migrate.code, namesDatabaseUrl: migrate.stderr.includes('DATABASE_URL'), stack: STACK.test(migrate.stderr) };
    }
    const judged = Object.fromEntries(Object.entries(seen).map(([where, o]) => [where, { failed: o.code !== 0, namesDatabaseUrl: o.namesDatabaseUrl, stack: o.stack }]));
    expect(judged).toEqual(Object.fromEntries(Object.keys(seen).map((where) => [where, { failed: true, namesDatabaseUrl: true, stack: false }])));
  }, 120_000);
});

describe('an external Postgres (DATABASE_URL) whose DBA created the application role', () => {
  it('migrate succeeds for an owner that is a member of an existing staryer_app (the role is not its to grant again)', async () => {
    // As a DBA prepares a managed Postgres: the owner login, a member of staryer_app (pre-created,
    // e.g. for APP_DATABASE_URL's login, or by another installation on the same cluster), its database.
    const owner = `review_owner_${randomBytes(4).toString('hex')}`;
    const database = `review_db_${randomBytes(4).toString('hex')}`;
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
    const migrate = await cli({ DATABASE_URL: loginUrl(owner, 'review-pw', database) }, 'migrate');
    expect({ code: migrate.code, stdout: migrate.stdout }, migrate.stderr.slice(0, 1500)).toEqual({ code: 0, stdout: '{"migrated":true}\n' });
  }, 120_000);
});

describe('APP_DATABASE_URL that cannot serve the application', () => {
  async function startAndProbe(appUrl: string) {
    // A creator and its key, made as an operator would (the CLI, on the owner's login).
    const made = await cli({ DATABASE_URL: url }, 'creator', 'create', '--email', `ops-app-${randomBytes(3).toString('hex')}@example.com`, '--name', 'Ops');
    expect(made.code, made.stderr).toBe(0);
    const KEY = (JSON.parse(made.stdout) as { apiKey: string }).apiKey;
    const server = startServer({ DATABASE_URL: url, APP_DATABASE_URL: appUrl });
    const outcome = await readyOrExit(server);
    let health: number | null = null;
    let me: number | null = null;
    if (outcome === 'ready') {
      const base = `http://127.0.0.1:${portOf(server.output())}`;
      health = (await fetch(`${base}/api/health`)).status;
      me = (await fetch(`${base}/api/usage/me`, { headers: { authorization: `Bearer ${KEY}` } })).status;
      server.child.kill('SIGTERM');
    }
    await server.exited;
    return { outcome, health, me, output: server.output() };
  }

  it('a login that is not a member of staryer_app: start-up refuses it (78, naming staryer_app), instead of starting "ready", /api/health 200 and every API call 500', async () => {
    const login = await makeLogin({ memberOfApp: false });
    const seen = await startAndProbe(loginUrl(login, 'review-pw', new URL(url).pathname.slice(1)));
    expect({ outcome: seen.outcome, namesTheRole: seen.output.includes('staryer_app') }, JSON.stringify({ health: seen.health, me: seen.me }) + seen.output.slice(-1500)).toEqual({ outcome: 78, namesTheRole: true });
  }, 120_000);

  it('a login of another database than DATABASE_URL’s (a typo in its name): start-up refuses it (78, naming APP_DATABASE_URL), instead of serving 500s', async () => {
    const login = await makeLogin({ memberOfApp: true });
    const other = `review_other_${randomBytes(4).toString('hex')}`;
    await asSuperuser((sql) => sql.unsafe(`create database ${other}`));
    cleanups.push(() => asSuperuser((sql) => sql.unsafe(`drop database if exists ${other} with (force)`)));
    const seen = await startAndProbe(loginUrl(login, 'review-pw', other));
    expect({ outcome: seen.outcome, namesTheVariable: seen.output.includes('APP_DATABASE_URL') }, JSON.stringify({ health: seen.health, me: seen.me }) + seen.output.slice(-1500)).toEqual({
      outcome: 78,
      namesTheVariable: true,
    });
  }, 120_000);
});

describe('METRICS_TOKEN', () => {
  it('a token the environment check accepts can be sent: one read with a trailing newline (a secret file) or with spaces is either refused at start or accepted on /metrics', async () => {
    const cases = [
      { value: 'metrics-token-0123456789abcdef\n', sent: 'metrics-token-0123456789abcdef' },
      { value: 'correct horse battery staple', sent: 'correct horse battery staple' },
    ];
    const seen: Array<{ value: string; refusedAtStart: boolean; status: number | null }> = [];
    for (const { value, sent } of cases) {
      try {
        parseEnv({ NODE_ENV: 'test', METRICS_TOKEN: value });
      } catch (error) {
        seen.push({ value, refusedAtStart: error instanceof EnvError && error.message.includes('METRICS_TOKEN'), status: null });
        continue;
      }
      const server = await startTestServer(url, { env: { METRICS_TOKEN: value } });
      try {
        const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${sent}` } });
        seen.push({ value, refusedAtStart: false, status: response.status });
      } finally {
        await server.close();
      }
    }
    expect(seen.map((o) => ({ value: o.value, usable: o.refusedAtStart || o.status === 200 })), JSON.stringify(seen)).toEqual(cases.map((c) => ({ value: c.value, usable: true })));
  }, 60_000);
});

describe('STRIPE_API_BASE', () => {
  it('a value without a scheme ("localhost:12111", taken as the scheme "localhost:") is refused with the other bad values, exit 78 naming it', async () => {
    const result = await cli({ DATABASE_URL: url, STRIPE_API_BASE: 'localhost:12111' }, 'migrate');
    expect({ code: result.code, namesIt: result.stderr.includes('STRIPE_API_BASE') }, result.stdout + result.stderr).toEqual({ code: 78, namesIt: true });
  }, 60_000);
});

describe('DATA_DIR', () => {
  it('a DATA_DIR that is a file: one sentence naming DATA_DIR, no stack trace, exit 78 (configuration)', async () => {
    const dir = await dataDir();
    const file = path.join(dir, 'not-a-dir');
    await fs.writeFile(file, 'x');
    const server = startServer({ DATA_DIR: file });
    const code = await server.exited;
    expect(code, server.output()).toBe(78);
    expect(server.output()).toContain(`DATA_DIR ${file}`);
    expect(server.output()).not.toMatch(/\n\s+at /);
  });

  it('postgres.log, whose lines can quote statements and their values, is readable by its owner only', async () => {
    const dir = await dataDir();
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data') });
    try {
      expect((await fs.stat(path.join(dir, 'data', 'postgres.log'))).mode & 0o777).toBe(0o600);
    } finally {
      await pg.stop();
    }
  });
});
