import { Presets, SingleBar } from 'cli-progress';
import postgres from 'postgres';
import { withDatabase } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';
import { fmtInt, withScratchPostgres } from './lib.js';

/**
 * The event-id section of `npm run bench` (BENCH_ONLY=ids): how fast the real
 * `usage_events` table (its monthly partition, primary key and three indexes) takes rows
 * once its indexes are larger than shared_buffers, with random (v4) against time-ordered
 * (v7) event ids. A fresh embedded Postgres (defaults: shared_buffers 128 MB), the
 * migrations, then per variant — v4, v7, v4, v7 — an emptied table and BENCH_IDS_ROWS
 * rows (3,000,000) inserted 1,000 per statement, as ingestion's group commit does, for
 * 10,000 customers. Reported: rows/s over the whole run and over its last quarter (when
 * the indexes no longer fit in memory), and the WAL written (full-page images: pages
 * touched for the first time since a checkpoint).
 */
const ROWS = Number(process.env.BENCH_IDS_ROWS ?? 3_000_000);
const BATCH = 1000;
const CREATOR = '00000000-0000-4000-8000-000000000001';
const METER = '00000000-0000-4000-8000-000000000002';

type Result = { variant: 'v4' | 'v7'; seconds: number; lastQuarterSeconds: number; fpi: number; walBytes: number; pkeyBytes: number };

export async function runEventIds(): Promise<string> {
  const results: Result[] = [];
  await withScratchPostgres('ids', async (pg) => {
    const admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
    try {
      await admin`create database ids_bench`;
      const url = withDatabase(pg.url, 'ids_bench');
      await runMigrations(url);
      const sql = postgres(url, { max: 1, onnotice: () => undefined });
      const bar = new SingleBar({ format: 'ids     {variant} [{bar}] {value}/{total} rows', hideCursor: true }, Presets.shades_classic);
      for (const variant of ['v4', 'v7', 'v4', 'v7'] as const) {
        await sql`truncate usage_events`;
        await sql`checkpoint`;
        await sql`select pg_stat_reset_shared('wal')`;
        const id = variant === 'v4' ? 'gen_random_uuid()' : 'uuidv7()';
        // 10,000 customers: a uuid derived from a random number below 10,000.
        const insert = `insert into usage_events (creator_id, event_id, meter_id, customer_id, event_name, user_id, value, period_start, occurred_at)
          select '${CREATOR}', ${id}, '${METER}', md5((random() * 9999)::int::text)::uuid, 'api_call', 'u', 1, date_trunc('month', now()), now()
          from generate_series(1, ${BATCH})`;
        bar.start(ROWS, 0, { variant });
        const started = performance.now();
        let lastQuarter = 0;
        for (let done = 0; done < ROWS; done += BATCH) {
          const t = performance.now();
          await sql.unsafe(insert);
          if (done >= ROWS * 0.75) lastQuarter += performance.now() - t;
          if (done % 50_000 === 0) bar.update(done, { variant });
        }
        bar.update(ROWS, { variant });
        bar.stop();
        const seconds = (performance.now() - started) / 1000;
        const [wal] = await sql<Array<{ fpi: string; bytes: string }>>`select wal_fpi::text as fpi, wal_bytes::text as bytes from pg_stat_wal`;
        const [size] = await sql<Array<{ bytes: string }>>`
          select sum(pg_relation_size(i.indexrelid))::text as bytes from pg_index i join pg_class c on c.oid = i.indrelid
          where c.relname like 'usage_events_y%' and i.indisprimary`;
        results.push({ variant, seconds, lastQuarterSeconds: lastQuarter / 1000, fpi: Number(wal!.fpi), walBytes: Number(wal!.bytes), pkeyBytes: Number(size!.bytes) });
      }
      await sql.end();
    } finally {
      await admin.end();
    }
  });
  const rate = (rows: number, s: number) => fmtInt(rows / s);
  const lines = results.map(
    (r) =>
      `| ${r.variant} | ${rate(ROWS, r.seconds)} | ${rate(ROWS / 4, r.lastQuarterSeconds)} | ${fmtInt(r.fpi)} | ${fmtInt(r.walBytes / 2 ** 20)} MiB | ${fmtInt(r.pkeyBytes / 2 ** 20)} MiB |`,
  );
  const pairs = [0, 2].map((i) => ({ all: results[i]!.seconds / results[i + 1]!.seconds, last: results[i]!.lastQuarterSeconds / results[i + 1]!.lastQuarterSeconds }));
  return [
    `### Event ids: ${fmtInt(ROWS)} rows into usage_events, 1,000 per statement, random (v4) against time-ordered (v7) ids`,
    '',
    '| ids | rows/s, whole run | rows/s, last quarter | WAL full-page images | WAL written | primary key size |',
    '| --- | --- | --- | --- | --- | --- |',
    ...lines,
    '',
    `v7 ÷ v4 throughput (pairs run one after the other): whole run ${pairs.map((p) => `${p.all.toFixed(2)}×`).join(' and ')}; last quarter ${pairs.map((p) => `${p.last.toFixed(2)}×`).join(' and ')}.`,
  ].join('\n');
}
