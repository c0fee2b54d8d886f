import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * For tests of processes as an operator runs them: temporary DATA_DIRs and child processes
 * (the server, the CLI, npm), all killed and removed after the file's tests.
 */
export function useProcessScratch(prefix: string) {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  }, 90_000);
  return {
    /** A fresh directory the unprivileged postgres user can traverse (we may run as root). */
    async dataDir(): Promise<string> {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
      await fs.chmod(dir, 0o755);
      dirs.push(dir);
      return dir;
    },
    /** A child started some other way, killed with the rest. */
    adopt(child: ChildProcess): void {
      children.push(child);
    },
    /** Starts `command` with the server's production-like environment plus `env`, collecting its output. */
    spawnLogged(command: string, args: string[], env: Record<string, string>) {
      const child = spawn(command, args, {
        env: { ...process.env, LOG_LEVEL: 'info', NODE_ENV: 'production', RUN_WORKERS: 'false', HOST: '127.0.0.1', PORT: '0', DATABASE_URL: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let output = '';
      child.stdout!.on('data', (d) => (output += String(d)));
      child.stderr!.on('data', (d) => (output += String(d)));
      let code: number | null = null;
      const exited = new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve((code = c ?? (signal ? -1 : -2)))));
      return { child, output: () => output, exited, code: () => code };
    },
  };
}
