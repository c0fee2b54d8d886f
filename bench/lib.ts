import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded.js';

/** Shared helpers of the benchmark sections (bench/run.ts). */

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ports free right now, all different (held open together while chosen). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export const freePort = async () => (await freePorts(1))[0]!;

export async function waitForHealth(url: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited || child.exitCode !== null) throw new Error('the server exited before answering');
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
  throw new Error(`no answer from ${url} within ${timeoutMs} ms`);
}

/** Stops a child started with `detached: true` (its own process group) and waits for it. */
export async function stop(child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid!, 'SIGTERM'); // the whole group: tsx may run node as a child
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  }, timeoutMs);
  await exited;
  clearTimeout(timer);
}

export function spawnDetached(command: string, args: string[], env: Record<string, string>, logFd?: number, cwd?: string): ChildProcess {
  return spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: logFd === undefined ? 'ignore' : ['ignore', logFd, logFd],
    detached: true,
  });
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Percentile (0–100) of an ascending-sorted array, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function machineLine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/**
 * CPU seconds (user + system) a process has used so far, with those of its children that
 * it has already reaped; 0 when it is gone.
 */
export async function cpuSeconds(pid: number): Promise<number> {
  const raw = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (!raw) return 0;
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime (stat fields 14–17)
  const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** A process and every descendant of it, by scanning /proc. */
export async function processTree(rootPid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const raw = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (!raw) continue;
    const ppid = Number(raw.slice(raw.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(Number(entry), ppid);
  }
  const tree = [rootPid];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

export async function treeCpuSeconds(rootPid: number): Promise<number> {
  let total = 0;
  for (const pid of await processTree(rootPid)) total += await cpuSeconds(pid);
  return total;
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : '–');

/**
 * The baseline server: a bare `node:http` hello world, written to a temporary .mjs file
 * so that plain `node` runs it (no TypeScript loader in the way).
 */
export async function writeHelloScript(): Promise<string> {
  const file = path.join(os.tmpdir(), 'staryer-bench-hello.mjs');
  await fs.writeFile(
    file,
    "import http from 'node:http'; const s = http.createServer((q, r) => r.end('ok')); s.listen(process.env.PORT); process.on('SIGTERM', () => s.close(() => process.exit(0)));",
  );
  return file;
}

/** A fresh embedded Postgres in a temporary directory, for the duration of fn; removed after. */
export async function withScratchPostgres<T>(name: string, fn: (pg: EmbeddedPostgres) => Promise<T>): Promise<T> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), `staryer-bench-${name}-`));
  await fs.chmod(dataDir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir });
  try {
    return await fn(pg);
  } finally {
    await pg.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
