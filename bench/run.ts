import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';

/**
 * `npm run bench`: start-up times of the real product, as ratios to a bare Node HTTP
 * server started the same way in the same run (these machines are noisy; ratios travel).
 *   cold = fresh DATA_DIR: initdb + Postgres start + migrations + pg-boss schema + HTTP
 *   warm = the same DATA_DIR again: Postgres start + HTTP
 * Results go to stdout as a Markdown table (paste into BENCHMARKS.md).
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PORT = 3990;

async function waitForHealth(url: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error('the server exited before answering');
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no answer from ${url} within ${timeoutMs} ms`);
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, 'SIGTERM'); // the whole process group: tsx runs node as a child
  await exited;
}

async function timeStart(command: string, args: string[], env: Record<string, string>, healthPath: string): Promise<number> {
  const started = performance.now();
  const child = spawn(command, args, { env: { ...process.env, ...env, PORT: String(PORT), LOG_LEVEL: 'warn' }, stdio: 'ignore', detached: true });
  try {
    await waitForHealth(`http://127.0.0.1:${PORT}${healthPath}`, child);
    return performance.now() - started;
  } finally {
    await stop(child);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const baselineScript = path.join(os.tmpdir(), 'staryer-bench-hello.mjs');
  await fs.writeFile(
    baselineScript,
    "import http from 'node:http'; const s = http.createServer((q, r) => r.end('ok')); s.listen(process.env.PORT); process.on('SIGTERM', () => s.close(() => process.exit(0)));",
  );
  const results = { baseline: [] as number[], baselineTsx: [] as number[], cold: [] as number[], warm: [] as number[] };
  const bar = new SingleBar({ format: 'bench [{bar}] {value}/{total} {step}' }, Presets.shades_classic);
  bar.start(ROUNDS * 4, 0, { step: '' });
  for (let round = 0; round < ROUNDS; round++) {
    bar.update({ step: 'bare node:http' });
    results.baseline.push(await timeStart('node', [baselineScript], {}, '/'));
    bar.increment();
    bar.update({ step: 'bare node:http under tsx' });
    results.baselineTsx.push(await timeStart('node', ['--import', 'tsx', baselineScript], {}, '/'));
    bar.increment();
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-bench-'));
    await fs.chmod(dataDir, 0o755);
    const env = { DATA_DIR: dataDir, DATABASE_URL: '' };
    bar.update({ step: 'cold start' });
    results.cold.push(await timeStart('node', ['--import', 'tsx', 'server/main.ts'], env, '/api/health'));
    bar.increment();
    bar.update({ step: 'warm start' });
    results.warm.push(await timeStart('node', ['--import', 'tsx', 'server/main.ts'], env, '/api/health'));
    bar.increment();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
  bar.stop();
  const base = median(results.baseline);
  const row = (name: string, xs: number[]) =>
    `| ${name} | ${median(xs).toFixed(0)} ms | ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} ms | ${(median(xs) / base).toFixed(1)}× |`;
  console.log(`\nStart-up to a 200 from the health endpoint, median of ${ROUNDS} (${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version})\n`);
  console.log('| what | median | range | × bare node:http |');
  console.log('| --- | --- | --- | --- |');
  console.log(row('bare `node:http` hello world (baseline)', results.baseline));
  console.log(row('bare `node:http` under tsx', results.baselineTsx));
  console.log(row('cold start (new DATA_DIR: initdb, migrations, pg-boss schema)', results.cold));
  console.log(row('warm start (existing DATA_DIR)', results.warm));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
