import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { freePort, median, spawnDetached, stop, waitForHealth, writeHelloScript } from './lib.js';

/**
 * Start-up times of the real product, as ratios to a bare Node HTTP server started the
 * same way in the same run (these machines are noisy; ratios travel).
 *   cold = fresh DATA_DIR: initdb + Postgres start + migrations + pg-boss schema + HTTP
 *   warm = the same DATA_DIR again: Postgres start + HTTP
 * Returns a Markdown section (paste into BENCHMARKS.md).
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

async function timeStart(command: string, args: string[], env: Record<string, string>, healthPath: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawnDetached(command, args, { ...env, PORT: String(port), LOG_LEVEL: 'warn' });
  try {
    await waitForHealth(`http://127.0.0.1:${port}${healthPath}`, child);
    return performance.now() - started;
  } finally {
    await stop(child);
  }
}

export async function runStartup(): Promise<string> {
  const baselineScript = await writeHelloScript();
  const results = { baseline: [] as number[], baselineTsx: [] as number[], cold: [] as number[], warm: [] as number[] };
  const bar = new SingleBar({ format: 'start-up [{bar}] {value}/{total} {step}' }, Presets.shades_classic);
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
  return [
    `### Start-up to a 200 from the health endpoint, median of ${ROUNDS}`,
    '',
    '| what | median | range | × bare node:http |',
    '| --- | --- | --- | --- |',
    row('bare `node:http` hello world (baseline)', results.baseline),
    row('bare `node:http` under tsx', results.baselineTsx),
    row('cold start (new DATA_DIR: initdb, migrations, pg-boss schema)', results.cold),
    row('warm start (existing DATA_DIR)', results.warm),
  ].join('\n');
}
