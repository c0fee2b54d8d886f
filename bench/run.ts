import { machineLine } from './lib.js';
import { runAlerts } from './alerts.js';
import { runDashboard } from './dashboard.js';
import { runEventIds } from './event-ids.js';
import { runIngest } from './ingest.js';
import { runPoolQueue } from './pool-queue.js';
import { runStartup } from './startup.js';

/**
 * `npm run bench`: the start-up section (bench/startup.ts) and the ingestion section
 * (bench/ingest.ts), each measured against baselines run in the same run (these
 * machines are noisy; ratios travel), alert latency and the dashboard pages at 1M and 10M events
 * (bench/dashboard.ts), random against time-ordered event ids (bench/event-ids.ts), and a quiet server's
 * pool over time (bench/pool-queue.ts).
 * BENCH_ONLY=startup|ingest|ids|pool|alerts|dashboard runs one of them.
 * Progress goes to stderr; the results go to stdout as Markdown (paste into BENCHMARKS.md).
 */
const SECTIONS = { startup: runStartup, ingest: runIngest, ids: runEventIds, pool: runPoolQueue, alerts: runAlerts, dashboard: runDashboard } as const;

async function main() {
  const only = process.env.BENCH_ONLY;
  if (only && !(only in SECTIONS)) throw new Error(`BENCH_ONLY must be one of ${Object.keys(SECTIONS).join(', ')}`);
  const names = (only ? [only] : Object.keys(SECTIONS)) as Array<keyof typeof SECTIONS>;
  const started = Date.now();
  const out: string[] = [];
  for (const name of names) out.push(await SECTIONS[name]());
  const date = new Date().toISOString().slice(0, 10);
  console.log(`\nMachine: ${machineLine()}; ${date}; ${((Date.now() - started) / 1000).toFixed(0)} s in all.\n\n${out.join('\n\n')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
