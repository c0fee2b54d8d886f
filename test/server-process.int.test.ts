import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { DatabaseUnreachableError, runMigrations } from '../db/migrate.js';
import { useTestDatabase } from './harness/db.js';

/**
 * `npm start`'s process as an operator runs it (node server/main.ts, its own embedded
 * Postgres): how it stops under load, and how it refuses to start when it cannot serve.
 */
const KEY = 'operator-chosen-bootstrap-key-0123456789';
const { url } = await useTestDatabase();
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });

async function dataDir() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-process-'));
  await fs.chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

function startServer(env: Record<string, string>, nodeFlags: string[] = []) {
  const child = spawn('node', [...nodeFlags, '--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, LOG_LEVEL: 'info', NODE_ENV: 'production', RUN_WORKERS: 'false', HOST: '127.0.0.1', DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : -2))));
  return { child, output: () => output, exited };
}

/** The environment of a server on `dir` and `port` whose creator and admin key (KEY) are made at start. */
const bootstrapped = (dir: string, port: number) => ({
  DATA_DIR: dir,
  PORT: String(port),
  STARYER_BOOTSTRAP_EMAIL: 'ops@example.com',
  STARYER_BOOTSTRAP_PASSWORD: 'a-long-enough-password',
  STARYER_BOOTSTRAP_API_KEY: KEY,
});

async function ready(output: () => string, exited: Promise<number>) {
  let done = false;
  void exited.then(() => (done = true));
  for (let i = 0; i < 600 && !done && !output().includes('is ready'); i++) await new Promise((r) => setTimeout(r, 100));
  expect(output(), output()).toContain('is ready');
}

function request(agent: http.Agent, port: number, method: string, urlPath: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, agent, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += String(d)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('the server process', () => {
  it('stops within seconds on SIGTERM while keep-alive clients keep sending: every 201 is recorded, nothing more, and its Postgres is stopped', async () => {
    const dir = await dataDir();
    const port = await freePort();
    const server = startServer(bootstrapped(dir, port));
    await ready(server.output, server.exited);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    expect((await request(agent, port, 'POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' })).status).toBe(201);

    const answered: string[] = [];
    let refused = 0;
    let n = 0;
    const sender = async () => {
      for (;;) {
        const key = `k-${n++}`;
        try {
          const answer = await request(agent, port, 'POST', '/api/usage/track', { event_name: 'calls', user_id: `u${n % 5}`, idempotency_key: key });
          if (answer.status === 201) answered.push(key);
        } catch {
          // The connection closed under a request the server never read: nothing recorded.
          if (++refused > 20) return;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const senders = [sender(), sender()];
    await new Promise((r) => setTimeout(r, 1_000));
    const stopAt = Date.now();
    server.child.kill('SIGTERM');
    const code = await server.exited;
    const tookMs = Date.now() - stopAt;
    await Promise.all(senders);
    agent.destroy();

    expect(code, server.output()).toBe(0);
    expect(tookMs).toBeLessThan(10_000);
    expect(server.output()).toContain('stopped');
    expect(answered.length).toBeGreaterThan(10);
    expect(existsSync(path.join(dir, 'pg', 'postmaster.pid'))).toBe(false);

    // What was recorded is exactly what was answered 201.
    const pg = await startEmbeddedPostgres({ dataDir: dir, port: 0 });
    const sql = postgres(pg.url.replace(/\/postgres$/, '/staryer'), { max: 1, onnotice: () => undefined });
    try {
      const rows = await sql<Array<{ idempotency_key: string }>>`select idempotency_key from usage_events`;
      expect(rows.map((r) => r.idempotency_key).sort()).toEqual([...answered].sort());
    } finally {
      await sql.end();
      await pg.stop();
    }
  }, 120_000);

  it('a SIGTERM while it is still starting stops what it started, Postgres included, once started', async () => {
    const dir = await dataDir();
    const server = startServer({ DATA_DIR: dir, PORT: String(await freePort()) });
    for (let i = 0; i < 600 && !server.output().includes('started embedded Postgres'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.output()).toContain('started embedded Postgres');
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('stopped');
    expect(server.output()).not.toContain('is ready');
    expect(existsSync(path.join(dir, 'pg', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  it('an error nothing handled: logged as fatal with its stack, answers in flight finish, Postgres stops, exit 1', async () => {
    const dir = await dataDir();
    const port = await freePort();
    // Stands in for a defect: on SIGUSR2, a rejected promise nobody awaits, while a request is in flight.
    const defect = path.join(dir, 'defect.mjs');
    await fs.writeFile(defect, "process.on('SIGUSR2', () => { Promise.reject(new Error('a defect nobody caught')); });\n");
    const server = startServer(bootstrapped(dir, port), [
      '--import',
      pathToFileURL(defect).href,
    ]);
    await ready(server.output, server.exited);
    const agent = new http.Agent({ keepAlive: false });
    expect((await request(agent, port, 'POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' })).status).toBe(201);
    // In flight: the server has the request's headers and half its body when the defect strikes.
    const body = JSON.stringify({ event_name: 'calls', user_id: 'u1', idempotency_key: 'in-flight' });
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/api/usage/track', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0)),
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        server.child.kill('SIGUSR2');
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 300);
    });
    const status = await inFlight;
    const code = await server.exited;

    expect(code, server.output()).toBe(1);
    const fatal = server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string; stack: string } })
      .find((line) => line.level === 60);
    expect(fatal, server.output()).toMatchObject({ msg: expect.stringContaining('nothing handled'), err: { message: 'a defect nobody caught' } });
    expect(fatal!.err!.stack).toContain('defect.mjs');
    expect(server.output()).toContain('stopped');
    expect(status).toBe(201);
    expect(existsSync(path.join(dir, 'pg', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  it('clients that never finish their request (a body or headers that stop coming) are cut off 5 s into a stop: it stops as usual, exit 0, while a request read whole is answered', async () => {
    const dir = await dataDir();
    const port = await freePort();
    const server = startServer(bootstrapped(dir, port));
    await ready(server.output, server.exited);
    const agent = new http.Agent({ keepAlive: false });
    expect((await request(agent, port, 'POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' })).status).toBe(201);
    // Headers and a first byte of a body that never comes; and headers that never end.
    const stuckBody = net.connect(port, '127.0.0.1');
    stuckBody.on('error', () => undefined);
    stuckBody.write(`POST /api/usage/track HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`);
    const stuckHeaders = net.connect(port, '127.0.0.1');
    stuckHeaders.on('error', () => undefined);
    stuckHeaders.write(`POST /api/usage/track HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${KEY}\r\n`);
    // And one whose body is finished a second into the stop: read whole, so answered.
    const body = JSON.stringify({ event_name: 'calls', user_id: 'u1', idempotency_key: 'finished-late' });
    let sendRest = () => undefined as void;
    const late = new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/api/usage/track', agent, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0)),
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      sendRest = () => void req.end(body.slice(10));
    });
    await new Promise((r) => setTimeout(r, 300));
    const stopAt = Date.now();
    server.child.kill('SIGTERM');
    setTimeout(sendRest, 1_000);
    const code = await server.exited;
    const tookMs = Date.now() - stopAt;
    const closedByServer = await Promise.all([stuckBody, stuckHeaders].map((s) => new Promise<boolean>((resolve) => (s.destroyed || s.readableEnded ? resolve(true) : s.once('close', () => resolve(true))))));
    stuckBody.destroy();
    stuckHeaders.destroy();

    // Before: it waited out the 20 s grace with Postgres still up, then exited 1 ("shutdown did not finish in time").
    expect({ code, late: await late, closedByServer }, server.output()).toEqual({ code: 0, late: 201, closedByServer: [true, true] });
    expect(server.output()).toContain('cut off requests still arriving');
    expect(server.output()).toContain('"msg":"stopped"');
    expect(tookMs).toBeGreaterThanOrEqual(4_500);
    expect(tookMs).toBeLessThan(15_000);
    expect(existsSync(path.join(dir, 'pg', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  it('a shutdown step that never finishes cannot keep it from stopping: after the grace period it stops Postgres and exits 1', async () => {
    const dir = await dataDir();
    const port = await freePort();
    // Stands in for a defect: closing the HTTP server never calls back.
    const defect = path.join(dir, 'hang.mjs');
    await fs.writeFile(defect, "import http from 'node:http';\nhttp.Server.prototype.close = function () { return this; };\n");
    const server = startServer(bootstrapped(dir, port), [
      '--import',
      pathToFileURL(defect).href,
    ]);
    await ready(server.output, server.exited);
    const stopAt = Date.now();
    server.child.kill('SIGTERM');
    const code = await server.exited;
    const tookMs = Date.now() - stopAt;

    expect(code, server.output()).toBe(1);
    expect(server.output()).toContain('shutdown did not finish in time: stopping Postgres and exiting');
    expect(tookMs).toBeGreaterThanOrEqual(19_000);
    expect(tookMs).toBeLessThan(27_000);
    expect(existsSync(path.join(dir, 'pg', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  it('a PORT already in use: exits 1 saying so, and stops the Postgres it started', async () => {
    const dir = await dataDir();
    const busy = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => busy.once('listening', r));
    const { port } = busy.address() as net.AddressInfo;
    try {
      const server = startServer({ DATA_DIR: dir, PORT: String(port) });
      const code = await server.exited;
      expect(code).toBe(1);
      expect(server.output()).toContain(`port ${port} on 127.0.0.1 is in use: set PORT to a free one`);
      expect(server.output()).not.toContain("Unhandled 'error' event");
      expect(existsSync(path.join(dir, 'pg', 'postmaster.pid'))).toBe(false);
    } finally {
      busy.close();
    }
  }, 120_000);

  it('an APP_DATABASE_URL whose role bypasses row-level security: refuses to start (78), naming the fix', async () => {
    // The owner's (superuser) login as the application's: every creator would see every other's rows.
    const server = startServer({ DATABASE_URL: url, APP_DATABASE_URL: url, PORT: String(await freePort()) });
    expect(await server.exited).toBe(78);
    expect(server.output()).toMatch(/is a superuser: every creator would see every other's data/);
    expect(server.output()).toContain('APP_DATABASE_URL');
  }, 120_000);

  it('a DATABASE_URL that never answers: start-up fails naming the host and what to check, instead of waiting for ever', async () => {
    // A host that takes connections and never says a word (a firewall, a wrong service).
    const silent = net.createServer(() => undefined).listen(0, '127.0.0.1');
    await new Promise((r) => silent.once('listening', r));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const started = Date.now();
      const failed = await runMigrations(`postgres://owner:secret@127.0.0.1:${port}/staryer`, { connectTimeoutMs: 500 }).catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(DatabaseUnreachableError);
      expect((failed as Error).message).toBe(
        `The database at 127.0.0.1:${port}/staryer did not answer within 0.5 s: check DATABASE_URL's host and port, and that Postgres accepts connections from here.`,
      );
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });
});
