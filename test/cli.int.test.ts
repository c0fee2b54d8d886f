import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, uniqueEmail } from './harness/fixtures.js';
import { startTestServer } from './harness/server.js';

const run = promisify(execFile);
const { url } = await useTestDatabase();
const server = await startTestServer(url);
afterAll(() => server.close());

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', ['bin/staryer-usage.mjs', ...args], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', NODE_ENV: 'test' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('staryer-usage CLI', () => {
  it('creates a creator with an admin key, then scoped keys, and revokes by prefix', async () => {
    const email = uniqueEmail('cli');
    const created = await cli('creator', 'create', '--email', email, '--name', 'CLI Co', '--password', 'a sound passphrase');
    expect(created.code).toBe(0);
    const { creatorId, apiKey } = JSON.parse(created.stdout) as { creatorId: string; apiKey: string };
    expect(Object.keys(JSON.parse(created.stdout))).toEqual(['creatorId', 'apiKey']);
    const me = await api(server.url, apiKey)('GET', '/api/usage/me');
    expect(me.json).toMatchObject({ creator_id: creatorId, email, key: { scopes: ['admin'] } });

    const keyOut = await cli('key', 'create', '--creator', email, '--scopes', 'track,read');
    expect(keyOut.code).toBe(0);
    const key = JSON.parse(keyOut.stdout) as { apiKey: string; prefix: string; scopes: string[] };
    expect(Object.keys(key)).toEqual(['apiKey', 'prefix', 'scopes']);
    expect(key.scopes).toEqual(['track', 'read']);
    expect((await api(server.url, key.apiKey)('GET', '/api/usage/me')).status).toBe(200);
    expect((await api(server.url, key.apiKey)('GET', '/api/usage/keys')).status).toBe(403);

    const revoked = await cli('key', 'revoke', key.prefix);
    expect(revoked.code).toBe(0);
    // The server caches keys, but the revocation reaches it through NOTIFY.
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      status = (await api(server.url, key.apiKey)('GET', '/api/usage/me')).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(401);
  }, 60_000);

  it('refuses bad arguments with a message and a non-zero exit, changing nothing', async () => {
    const email = uniqueEmail('bad');
    const badEmail = await cli('creator', 'create', '--email', 'nope', '--name', 'X');
    expect(badEmail.code).not.toBe(0);
    expect(badEmail.stderr).toContain('email');
    const shortPassword = await cli('creator', 'create', '--email', email, '--name', 'X', '--password', 'short');
    expect(shortPassword.code).not.toBe(0);
    expect(shortPassword.stderr).toContain('at least 10 characters');
    const unknownCreator = await cli('key', 'create', '--creator', email, '--scopes', 'track');
    expect(unknownCreator.code).toBe(3);
    expect(unknownCreator.stderr).toContain('was not found');
    const badScope = await cli('key', 'create', '--creator', email, '--scopes', 'track,root');
    expect(badScope.code).not.toBe(0);
    expect(badScope.stderr).toContain('not root');
    const unknownPrefix = await cli('key', 'revoke', 'su_live_zzzzzz');
    expect(unknownPrefix.code).toBe(3);
    const exclusive = await cli('seed', '--append', '--reset');
    expect(exclusive.code).toBe(1);
    expect(exclusive.stderr).toContain('--append and --reset cannot be combined');
    expect(exclusive.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    // Nothing of the attempts above exists.
    const rows = await server.rt.ownerDb.execute<{ n: number }>((await import('drizzle-orm')).sql`select count(*)::int as n from creators where email = ${email}`);
    expect(rows[0]!.n).toBe(0);
  }, 60_000);

  it('runs migrations idempotently', async () => {
    const first = await cli('migrate');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ migrated: true });
  }, 60_000);
  it('worker: an error nothing handled is logged as fatal with its stack and stops the workers, exit 1; SIGTERM stops them, exit 0, even while starting', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-worker-'));
    // Stands in for a defect: on SIGUSR2, a rejected promise nobody awaits.
    const defect = path.join(dir, 'defect.mjs');
    await fs.writeFile(defect, "process.on('SIGUSR2', () => { Promise.reject(new Error('a defect nobody caught')); });\n");
    const worker = (signal: NodeJS.Signals, when = 'workers running') =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn('node', ['--import', pathToFileURL(defect).href, 'bin/staryer-usage.mjs', 'worker'], {
          env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'info', NODE_ENV: 'test' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        const collect = (d: Buffer) => {
          output += String(d);
          if (output.includes(when) && !child.killed) child.kill(signal);
        };
        child.stdout.on('data', collect);
        child.stderr.on('data', collect);
        child.on('exit', (code) => resolve({ code, output }));
      });
    try {
      const crashed = await worker('SIGUSR2');
      expect(crashed.code, crashed.output).toBe(1);
      const fatal = crashed.output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string; stack: string } })
        .find((line) => line.level === 60);
      expect(fatal, crashed.output).toMatchObject({ msg: expect.stringContaining('nothing handled'), err: { message: 'a defect nobody caught' } });
      expect(fatal!.err!.stack).toContain('defect.mjs');

      const stopped = await worker('SIGTERM');
      expect(stopped.code, stopped.output).toBe(0);
      expect(stopped.output).not.toContain('nothing handled');

      // A signal while it is still starting: it stops once started, as asked, not killed half-way.
      const early = await worker('SIGTERM', 'connecting to DATABASE_URL');
      expect(early.code, early.output).toBe(0);
      expect(early.output).not.toContain('workers running');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
