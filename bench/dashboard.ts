import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { freePort, machineLine, percentile, spawnDetached, stop, waitForHealth } from './lib.js';

/**
 * Dashboard pages at scale (issue #7): the real server on a fresh embedded Postgres,
 * `staryer-usage seed` of 1M events / 10k customers / 20 meters, a session logged in
 * over HTTP with the login form, then every page below requested one at a time
 * (warm-up first) and timed to the end of its body; then `seed --append` up to 10M
 * events and the same again. Target per page: p95 < 100 ms at 10M, ≤ 1.5× its 1M p95.
 * A page answering anything but 200 is reported as an error, not a time.
 *
 * Env: BENCH_DASHBOARD_EVENTS (default 1000000), BENCH_DASHBOARD_EVENTS_LARGE (10000000),
 * BENCH_DASHBOARD_N (50 timed requests per page), BENCH_DASHBOARD_WARMUP (5),
 * BENCH_DASHBOARD_PAGE_BUDGET_MS (30000: a page slower than this gets fewer samples),
 * BENCH_DASHBOARD_KEEP=1 keeps the data directory and prints its path.
 */
const SMALL = Number(process.env.BENCH_DASHBOARD_EVENTS ?? 1_000_000);
const LARGE = Number(process.env.BENCH_DASHBOARD_EVENTS_LARGE ?? 10_000_000);
const N = Number(process.env.BENCH_DASHBOARD_N ?? 50);
const WARMUP = Number(process.env.BENCH_DASHBOARD_WARMUP ?? 5);
const PAGE_BUDGET_MS = Number(process.env.BENCH_DASHBOARD_PAGE_BUDGET_MS ?? 30_000);
const CUSTOMERS = 10_000;
const METERS = 20;
const TARGET_P95_MS = 100;
const TARGET_RATIO = 1.5;

const DASHBOARD = '/creator/dashboard/usage';

/** What the pages' URLs are built from: found once after seeding. */
type Fixture = {
  heavyUserId: string;
  meterId: string;
  meterEventName: string;
  alertId: string | null;
  /** GET with the logged-in session. */
  get: (url: string) => Promise<{ status: number; body: string }>;
};

type PageSpec = { name: string; url: (f: Fixture) => string | null | Promise<string | null> };

/**
 * The pages measured. The sections follow DASHBOARD_SECTIONS (app/lib/dashboard.ts);
 * add a row here when a page is added. `url` answering null skips the page (e.g. no
 * alert exists to open).
 */
export const DASHBOARD_PAGES: PageSpec[] = [
  { name: 'Overview', url: () => DASHBOARD },
  { name: 'Trends', url: () => `${DASHBOARD}/trends` },
  { name: 'Trends, one meter', url: (f) => `${DASHBOARD}/trends?meter=${f.meterId}` },
  { name: 'Top users', url: () => `${DASHBOARD}/customers` },
  { name: 'Top users, meter selected', url: (f) => `${DASHBOARD}/customers?meter=${f.meterId}` },
  { name: 'Top users, meter, page 2', url: (f) => nextPageOf(f, `${DASHBOARD}/customers?meter=${f.meterId}`) },
  { name: 'Customer detail (heaviest)', url: (f) => `${DASHBOARD}/customers/${encodeURIComponent(f.heavyUserId)}` },
  { name: 'Revenue', url: () => `${DASHBOARD}/revenue` },
  { name: 'Revenue what-if', url: (f) => `${DASHBOARD}/revenue?meter=${f.meterId}&plan=pro&limit=100000` },
  { name: 'Meters', url: () => `${DASHBOARD}/meters` },
  { name: 'Meter edit', url: (f) => `${DASHBOARD}/meters/${f.meterId}` },
  { name: 'Alerts', url: () => `${DASHBOARD}/alerts` },
  { name: 'Alert detail', url: (f) => (f.alertId ? `${DASHBOARD}/alerts/${f.alertId}` : null) },
  { name: 'Reports', url: () => `${DASHBOARD}/reports` },
  { name: 'Billing', url: () => `${DASHBOARD}/billing` },
  { name: 'API keys', url: () => `${DASHBOARD}/keys` },
  { name: 'Settings', url: () => `${DASHBOARD}/settings` },
];

/** Page 2 of a paginated list: the first "next page" link (cursor or page=2) on page 1. */
async function nextPageOf(f: Fixture, firstPage: string): Promise<string> {
  const { body } = await f.get(firstPage);
  const links = [...body.matchAll(/href="([^"]*\/customers\?[^"]*)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
  return links.find((l) => /[?&]cursor=[^&]/.test(l)) ?? links.find((l) => /[?&]page=2\b/.test(l)) ?? `${firstPage}&page=2`;
}

type Measured = { name: string; url: string | null; samples: number[]; error: string | null };

/** Cookie jar of one browser session: name → value, from every Set-Cookie seen. */
function cookieJar() {
  const cookies = new Map<string, string>();
  return {
    header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
    take: (response: Response) => {
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair!.indexOf('=');
        if (eq > 0) cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
      }
    },
  };
}

/** Logs in with the login form as a browser without JavaScript would (CSRF field and cookie). */
async function logIn(base: string, email: string, password: string): Promise<Fixture['get']> {
  const jar = cookieJar();
  const form = await fetch(`${base}/login`);
  jar.take(form);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  if (!csrf) throw new Error('no CSRF field on /login');
  const posted = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header(), origin: base },
    body: new URLSearchParams({ csrf, email, password }).toString(),
  });
  jar.take(posted);
  if (posted.status !== 302) throw new Error(`login answered ${posted.status}: ${(await posted.text()).slice(0, 300)}`);
  return async (url: string) => {
    const response = await fetch(base + url, { headers: { cookie: jar.header() }, redirect: 'manual' });
    return { status: response.status, body: await response.text() };
  };
}

/** Runs the seed CLI against the server's data directory; answers its JSON summary. */
async function runSeed(dataDir: string, args: string[]): Promise<Record<string, unknown>> {
  const child = spawn('node', ['--import', 'tsx', 'server/cli.ts', 'seed', ...args], {
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`seed ${args.join(' ')} exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
}

async function measure(fixture: Fixture, label: string): Promise<Measured[]> {
  const results: Measured[] = [];
  const bar = new SingleBar({ format: `dashboard ${label} [{bar}] {value}/{total} {page}`, stream: process.stderr }, Presets.shades_classic);
  bar.start(DASHBOARD_PAGES.length, 0, { page: '' });
  for (const page of DASHBOARD_PAGES) {
    bar.update({ page: page.name });
    const result: Measured = { name: page.name, url: null, samples: [], error: null };
    results.push(result);
    try {
      result.url = await page.url(fixture);
      if (result.url === null) {
        result.error = 'skipped (nothing to open)';
        continue;
      }
      const budgetEnds = performance.now() + PAGE_BUDGET_MS;
      for (let i = 0; i < WARMUP + N; i++) {
        const started = performance.now();
        const { status } = await fixture.get(result.url);
        const ms = performance.now() - started;
        if (status !== 200) {
          result.error = `HTTP ${status}`;
          break;
        }
        if (i >= WARMUP) result.samples.push(ms);
        if (performance.now() > budgetEnds && result.samples.length >= 5) break;
      }
    } catch (error) {
      result.error = (error as Error).message;
    } finally {
      bar.increment();
    }
  }
  bar.stop();
  return results;
}

const p = (xs: number[], q: number) => percentile([...xs].sort((a, b) => a - b), q);
const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(ms < 10 ? 1 : 0) : '–');

export async function runDashboard(): Promise<string> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-bench-dashboard-'));
  await fs.chmod(dataDir, 0o755);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const email = 'bench-dashboard@example.com';
  const password = 'bench dashboard passphrase';
  // No job workers in the measured server: the half-hourly consistency check reads every
  // raw event and would land in some pages' samples and not others.
  const server = spawnDetached('node', ['--import', 'tsx', 'server/main.ts'], { DATA_DIR: dataDir, DATABASE_URL: '', PORT: String(port), LOG_LEVEL: 'warn', RUN_WORKERS: 'false' });
  try {
    await waitForHealth(`${base}/api/health`, server);
    process.stderr.write(`dashboard: seeding ${SMALL.toLocaleString('en-US')} events…\n`);
    const small = await runSeed(dataDir, ['--email', email, '--password', password, '--events', String(SMALL), '--customers', String(CUSTOMERS), '--meters', String(METERS), '--seed', '7']);
    const apiKey = String(small.apiKey);
    const api = async (url: string) => (await (await fetch(base + url, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as Record<string, unknown>;
    const meters = (await api('/api/usage/meters')).meters as Array<{ id: string; event_name: string }>;
    const meter = meters.find((m) => m.event_name === 'api_calls') ?? meters[0]!;
    const alerts = (await api('/api/usage/alerts?status=open')).alerts as Array<{ id: string }> | undefined;
    const get = await logIn(base, email, password);
    const fixture: Fixture = { heavyUserId: String(small.heaviestUserId), meterId: meter.id, meterEventName: meter.event_name, alertId: alerts?.[0]?.id ?? null, get };
    const atSmall = await measure(fixture, `${SMALL / 1e6}M`);

    process.stderr.write(`dashboard: appending ${(LARGE - SMALL).toLocaleString('en-US')} events…\n`);
    const large = await runSeed(dataDir, ['--email', email, '--append', '--events', String(LARGE - SMALL), '--seed', '8']);
    const atLarge = await measure(fixture, `${LARGE / 1e6}M`);

    const rows = atSmall.map((s, i) => {
      const l = atLarge[i]!;
      if (s.error || l.error) return `| ${s.name} | ${s.error ?? fmt(p(s.samples, 95))} | ${l.error ?? fmt(p(l.samples, 95))} | – | ${s.error || l.error ? '**error**' : ''} |`;
      const p95s = p(s.samples, 95);
      const p95l = p(l.samples, 95);
      const ratio = p95l / p95s;
      const flags = [p95l >= TARGET_P95_MS ? `**p95 ≥ ${TARGET_P95_MS} ms**` : '', ratio > TARGET_RATIO ? `**ratio > ${TARGET_RATIO}**` : ''].filter(Boolean).join(' ');
      return `| ${s.name} | ${fmt(p(s.samples, 50))} / ${fmt(p95s)} | ${fmt(p(l.samples, 50))} / ${fmt(p95l)} | ${ratio.toFixed(2)}× | ${flags || 'ok'} |`;
    });
    const seedLine = (label: string, r: Record<string, unknown>) => {
      const s = r.seconds as Record<string, number>;
      return `${label}: ${Number(r.events).toLocaleString('en-US')} events in ${s.total} s (${Number(r.eventsPerSecond).toLocaleString('en-US')} events/s; COPY ${s.events} s, counters ${s.counters} s, rollups ${s.rollups} s, analyze ${s.analyze} s)`;
    };
    if (process.env.BENCH_DASHBOARD_KEEP) process.stderr.write(`dashboard: data kept in ${dataDir}\n`);
    return [
      `### Dashboard at ${SMALL / 1e6}M and ${LARGE / 1e6}M events (${CUSTOMERS.toLocaleString('en-US')} customers, ${METERS} meters, one creator)`,
      '',
      `Server time (request sent → whole body received, one at a time, after ${WARMUP} warm-ups), ${N} requests per page; p50 / p95 in ms.`,
      `Target: p95 < ${TARGET_P95_MS} ms at ${LARGE / 1e6}M and ≤ ${TARGET_RATIO}× the ${SMALL / 1e6}M p95. Machine: ${machineLine()}.`,
      '',
      `| page | ${SMALL / 1e6}M p50 / p95 | ${LARGE / 1e6}M p50 / p95 | p95 ratio | flag |`,
      '| --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `- ${seedLine('seed', small)}`,
      `- ${seedLine('seed --append', large)}`,
    ].join('\n');
  } finally {
    await stop(server);
    if (!process.env.BENCH_DASHBOARD_KEEP) await fs.rm(dataDir, { recursive: true, force: true });
  }
}
