import { Presets, SingleBar } from 'cli-progress';
import postgres from 'postgres';
import { fmtInt, withScratchPostgres } from './lib.js';

/**
 * The pool section of `npm run bench` (BENCH_ONLY=pool): whether a long-running server's
 * queries get slower the more it has run. A pool of 10 connections (the app's) on a fresh
 * embedded Postgres, all 10 opened, then BENCH_POOL_ROUNDS rounds of
 * BENCH_POOL_QUERIES one-at-a-time prepared `select $1` — a quiet server, where some
 * connections always stay idle. postgres.js 3.4.9 left one slot per query in its queue of
 * idle connections and scanned them all on each query (patches/postgres+3.4.9.patch);
 * reported: time per query of each round and its ratio to the first round of the same run.
 */
const ROUNDS = Number(process.env.BENCH_POOL_ROUNDS ?? 8);
const QUERIES = Number(process.env.BENCH_POOL_QUERIES ?? 25_000);

export async function runPoolQueue(): Promise<string> {
  const perQuery: number[] = [];
  await withScratchPostgres('pool', async (pg) => {
    const sql = postgres(pg.url, { max: 10, onnotice: () => undefined });
    try {
      await Promise.all(Array.from({ length: 10 }, () => sql`select pg_sleep(0.05)`));
      const bar = new SingleBar({ format: 'pool    [{bar}] {value}/{total} queries', hideCursor: true }, Presets.shades_classic);
      bar.start(ROUNDS * QUERIES, 0);
      for (let round = 0; round < ROUNDS; round++) {
        const started = performance.now();
        for (let i = 0; i < QUERIES; i++) await sql.unsafe('select $1::int as n', [i], { prepare: true });
        perQuery.push((performance.now() - started) / QUERIES);
        bar.update((round + 1) * QUERIES);
      }
      bar.stop();
    } finally {
      await sql.end();
    }
  });
  const first = perQuery[0]!;
  return [
    `### Pool: ${ROUNDS} × ${fmtInt(QUERIES)} one-at-a-time queries through a 10-connection pool`,
    '',
    '| round | queries before it | ms per query | ÷ round 1 |',
    '| --- | --- | --- | --- |',
    ...perQuery.map((ms, i) => `| ${i + 1} | ${fmtInt(i * QUERIES)} | ${ms.toFixed(4)} | ${(ms / first).toFixed(2)}× |`),
  ].join('\n');
}
