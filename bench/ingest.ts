import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar, Presets } from 'cli-progress';
import postgres from 'postgres';
import { cpuSeconds, fmtInt, fmtMs, freePort, freePorts, sleep, spawnDetached, stop, treeCpuSeconds, waitForHealth, writeHelloScript } from './lib.js';
import type { LoadResult, LoadSpec, Scenario } from './load.js';

/**
 * The ingestion section of `npm run bench`: the real server (`node --import tsx
 * server/main.ts`, embedded Postgres, fresh DATA_DIR) under autocannon in another
 * process, 64 connections:
 *   single — one event per request, 10,000 distinct customers, unique idempotency keys
 *   batch  — 1,000 events per request
 *   hot    — one customer × one hard-capped meter (limit out of reach)
 *   check  — GET /api/usage/check, at 64 connections and at 1, and open loop at half
 *            the 64-connection throughput (latency at a load the server keeps up with)
 * with two baselines run under the same load generator in the same run: a bare
 * `node:http` hello world, and a naive server doing one transaction per event on the
 * same Postgres (bench/naive-server.ts), and the floor: the least any server can do that
 * answers events once durable in this Postgres (bench/floor-server.ts: parse, group
 * commit into a table with only a primary key; single events and batches), and the lean
 * floor (the same plus a unique idempotency key and a counter per customer). Every measured run is a fixed number of
 * requests (calibrated by a warm-up of the same kind), so each request is answered and
 * the rows in the database must equal the 201 answers exactly.
 *
 * Environment: BENCH_DURATION (s per measured run, 10), BENCH_WARMUP (s, 3),
 * BENCH_CONNECTIONS (64), BENCH_USERS (10000), BENCH_BATCH (1000), BENCH_SCENARIOS
 * (comma list of hello,naive,floor,floor-batch,lean,lean-batch,single,batch,hot,check), BENCH_KEEP=1 (keep DATA_DIR),
 * BENCH_NODE_FLAGS (more node flags for the servers, e.g. --trace-gc), BENCH_LOG_LEVEL (the servers' LOG_LEVEL, warn; the product's default is info), BENCH_WORKERS=1
 * (the servers run their job workers too, as `npm start` does: rollups compete for the CPU),
 * and for profiling: BENCH_CPU_PROF=<dir> (server under `node --cpu-prof`),
 * BENCH_NO_ANALYZE=1 (measure before the tables are first analyzed), BENCH_PG_STATS=1 (pg_stat_statements and pg_stat_activity samples per run; with
 * BENCH_AUTO_EXPLAIN=<ms> also the plans of statements slower than that in DATA_DIR/postgres.log).
 *
 * Before/after in one run: BENCH_BEFORE=<dir> is another checkout of the product (e.g.
 * `git archive <commit> | tar -x -C dir`, with node_modules and build linked in). Its
 * server is set up the same way, with its own DATA_DIR, and every scenario runs on it
 * right before the same scenario on this tree's; the report adds an after ÷ before table.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const DURATION = num('BENCH_DURATION', 10);
const WARMUP = num('BENCH_WARMUP', 3);
const CONNECTIONS = num('BENCH_CONNECTIONS', 64);
const USERS = num('BENCH_USERS', 10_000);
const BATCH = num('BENCH_BATCH', 1000);
const ALL: Scenario[] = ['hello', 'naive', 'floor', 'floor-batch', 'lean', 'lean-batch', 'single', 'batch', 'hot', 'check'];
const SCENARIOS = new Set((process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim()) ?? ALL) as Scenario[]);
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : null;
const PG_STATS = process.env.BENCH_PG_STATS === '1';
/** More flags for the servers' node (e.g. --trace-gc: the lines land in DATA_DIR/server.log). */
const EXTRA_NODE_FLAGS = process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
const BEFORE_DIR = process.env.BENCH_BEFORE ? path.resolve(process.env.BENCH_BEFORE) : null;

const METER = 'api_call';
const HOT_METER = 'hot_call';
const HOT_USER = 'hot_user';
const HOT_PLAN = 'bench_capped';
const HOT_LIMIT = 1_000_000_000;

type Sql = postgres.Sql;

type Measured = {
  name: string;
  /** Which tree's server: 'after' is this checkout, 'before' BENCH_BEFORE; null: a baseline. */
  tree: 'before' | 'after' | null;
  scenario: Scenario;
  connections: number;
  /** Requests per second offered (paced); null: as fast as answered. */
  rate: number | null;
  eventsPerRequest: number;
  result: LoadResult;
  /** CPU cores used on average during the run, per party. */
  cpu: { server: number; postgres: number; load: number };
  /** Events per committed transaction (rows of one commit share received_at); null: not measured. */
  eventsPerCommit: number | null;
  /** Rows found for this run's idempotency keys, and whether they equal the 201 answers. */
  rows: number | null;
  verified: boolean | null;
  pgStats?: string;
  /** The server's own ingestion figures over the run (/metrics deltas); null: not ingestion, or a tree without them. */
  commits: IngestFigures | null;
};

/** Cumulative ingestion figures from a server's /metrics (see server/metrics.ts). */
type IngestFigures = { committed: number; fromMemory: number; memoryMissed: number; retried: number; split: number; failed: number; events: number; commitSeconds: number; commits: number; waitSeconds: number; waits: number };

async function scrapeIngest(url: string): Promise<IngestFigures | null> {
  const text = await (await fetch(`${url}/metrics`)).text();
  if (!text.includes('staryer_ingest_commit_seconds')) return null;
  const read = (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    committed: read('staryer_ingest_transactions_total{result="committed"}'),
    fromMemory: read('staryer_ingest_from_memory_total'),
    memoryMissed: read('staryer_ingest_transactions_total{result="memory_missed"}'),
    retried: read('staryer_ingest_transactions_total{result="retried"}'),
    split: read('staryer_ingest_transactions_total{result="split"}'),
    failed: read('staryer_ingest_transactions_total{result="failed"}'),
    events: read('staryer_ingest_group_events_sum'),
    commitSeconds: read('staryer_ingest_commit_seconds_sum'),
    commits: read('staryer_ingest_commit_seconds_count'),
    waitSeconds: read('staryer_ingest_queue_wait_seconds_sum'),
    waits: read('staryer_ingest_queue_wait_seconds_count'),
  };
}

const minusFigures = (a: IngestFigures, b: IngestFigures): IngestFigures =>
  Object.fromEntries(Object.keys(a).map((k) => [k, a[k as keyof IngestFigures] - b[k as keyof IngestFigures]])) as IngestFigures;

type Target = { url: string; pid: number; apiKey?: string };

/** Postgres of a DATA_DIR, as its owner: credentials file + port from postmaster.pid. */
async function ownerUrl(dataDir: string): Promise<{ url: string; postmasterPid: number }> {
  const credentials = JSON.parse(await fs.readFile(path.join(dataDir, 'pg-credentials.json'), 'utf8')) as { user: string; password: string };
  const pid = (await fs.readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n');
  const port = Number(pid[3]);
  return {
    url: `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/staryer`,
    postmasterPid: Number(pid[0]),
  };
}

function isAlive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

class ServerUnderTest {
  child: ChildProcess | null = null;
  port = 0;
  constructor(
    readonly dataDir: string,
    readonly apiKey: string,
    readonly cwd: string = ROOT,
  ) {}

  async start(nodeArgs: string[] = []) {
    // Both chosen here: a port the embedded Postgres picks for itself could be the one picked for HTTP.
    const [port, pgPort] = await freePorts(2);
    this.port = port!;
    const log = await fs.open(path.join(this.dataDir, 'server.log'), 'a');
    this.child = spawnDetached(
      'node',
      [...(await startNodeFlags(this.cwd)), ...EXTRA_NODE_FLAGS, ...nodeArgs, '--import', 'tsx', 'server/main.ts'],
      {
        DATA_DIR: this.dataDir,
        DATABASE_URL: '',
        PORT: String(this.port),
        EMBEDDED_PG_PORT: String(pgPort),
        HOST: '127.0.0.1',
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        RUN_WORKERS: process.env.BENCH_WORKERS === '1' ? 'true' : 'false',
        NODE_ENV: 'production',
        STARYER_BOOTSTRAP_EMAIL: 'bench@example.com',
        STARYER_BOOTSTRAP_PASSWORD: randomBytes(12).toString('base64url'),
        STARYER_BOOTSTRAP_API_KEY: this.apiKey,
      },
      log.fd,
      this.cwd,
    );
    await log.close();
    await waitForHealth(`http://127.0.0.1:${this.port}/api/health`, this.child);
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async api(method: string, pathname: string, body?: unknown): Promise<unknown> {
    const response = await fetch(this.url + pathname, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${pathname} → ${response.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as unknown;
  }

  async stop() {
    if (this.child) await stop(this.child);
    this.child = null;
  }

  async logTail(): Promise<string> {
    const text = await fs.readFile(path.join(this.dataDir, 'server.log'), 'utf8').catch(() => '');
    return text.slice(-3000);
  }
}

/** Runs one load in a forked bench/load.ts, with a progress bar. */
async function load(spec: LoadSpec, label: string): Promise<LoadResult> {
  const child = fork(path.join(ROOT, 'bench', 'load.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const bar = new SingleBar({ format: `ingest  {step} [{bar}] {value}/{total} {unit}`, hideCursor: true }, Presets.shades_classic);
  const byTime = !spec.amount;
  const started = Date.now();
  bar.start(byTime ? spec.duration! : spec.amount!, 0, { step: label.padEnd(28), unit: byTime ? 's' : 'requests' });
  try {
    const result = await new Promise<LoadResult>((resolve, reject) => {
      child.on('message', (message: { type: string; completed?: number; result?: LoadResult; message?: string }) => {
        if (message.type === 'tick') bar.update(byTime ? Math.min(spec.duration!, Math.floor((Date.now() - started) / 1000)) : message.completed!);
        else if (message.type === 'result') resolve(message.result!);
        else if (message.type === 'error') reject(new Error(`load generator: ${message.message}`));
      });
      child.once('exit', (code) => reject(new Error(`the load generator exited (${code}) without a result`)));
      child.send(spec);
    });
    bar.update(byTime ? spec.duration! : spec.amount!);
    return result;
  } finally {
    bar.stop();
  }
}

/** pg_stat_activity of the product's pool, sampled every 25 ms while a run lasts. */
function sampleActivity(sql: Sql) {
  const counts = new Map<string, number>();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const rows = await sql<Array<{ what: string }>>`
        select case when state = 'active' then 'active: ' || coalesce(wait_event_type || ':' || wait_event, 'on CPU') || ' — ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 60)
                    else coalesce(state, '?') end as what
        from pg_stat_activity
        where application_name = 'staryer-usage' and backend_type = 'client backend' and pid <> pg_backend_pid()`;
      samples++;
      for (const { what } of rows) counts.set(what, (counts.get(what) ?? 0) + 1);
      await sleep(25);
    }
  })();
  return async () => {
    running = false;
    await loop;
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const lines = [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([what, n]) => `| ${(n / samples).toFixed(2)} | ${((100 * n) / total).toFixed(1)} % | ${what.replace(/\|/g, '\\|')} |`);
    return [`pg_stat_activity, ${samples} samples of the application pool's connections:`, '', '| mean backends | share | state — statement |', '| --- | --- | --- |', ...lines].join('\n');
  };
}

async function statementStats(sql: Sql, seconds: number): Promise<string> {
  const rows = await sql<Array<{ calls: string; total: number; mean: number; rows: string; query: string }>>`
    select calls, total_exec_time as total, mean_exec_time as mean, rows,
           left(regexp_replace(query, '\\s+', ' ', 'g'), 110) as query
    from pg_stat_statements
    where dbid = (select oid from pg_database where datname = 'staryer')
    order by total_exec_time desc limit 14`;
  return [
    `pg_stat_statements over the run (${seconds.toFixed(1)} s), by total execution time:`,
    '',
    '| calls | total ms | mean ms | rows | statement |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${fmtInt(Number(r.calls))} | ${fmtInt(r.total)} | ${r.mean.toFixed(3)} | ${fmtInt(Number(r.rows))} | \`${r.query.replace(/\|/g, '\\|')}\` |`),
  ].join('\n');
}

/** Waits until no session of the product's database is busy (3 looks in a row, 50 ms apart). */
async function waitQuiet(sql: Sql, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (let quiet = 0; quiet < 3 && Date.now() < deadline; ) {
    const [row] = await sql<Array<{ busy: number }>>`
      select count(*)::int as busy from pg_stat_activity
      where datname = 'staryer' and backend_type = 'client backend' and state <> 'idle' and pid <> pg_backend_pid()`;
    quiet = row!.busy === 0 ? quiet + 1 : 0;
    await sleep(50);
  }
}

/** Vacuums (with analyze) every table of the database and checkpoints: its background work done now. */
async function settle(sql: Sql) {
  await sql`vacuum (analyze)`;
  await sql`checkpoint`;
}

/**
 * The Node flags the tree's `npm start` gives the server (`node <flags> --import tsx
 * server/main.ts` in package.json), so that each tree runs as it would in production.
 */
async function startNodeFlags(cwd: string): Promise<string[]> {
  const pkg = JSON.parse(await fs.readFile(path.join(cwd, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const flags = /\bnode((?:\s+--[\w-]+(?:=\S+)?)*)\s+--import tsx server\/main\.ts/.exec(pkg.scripts?.start ?? '')?.[1];
  return flags ? flags.trim().split(/\s+/) : [];
}

/** One product server under test: this checkout's ('after') or BENCH_BEFORE's ('before'). */
type Sut = {
  tree: 'before' | 'after';
  dataDir: string;
  server: ServerUnderTest;
  target: Target;
  sql: Sql;
  postmasterPid: number;
  ownerUrl: string;
};

async function stopPostgres(dataDir: string, known: number) {
  // Should the server have died, its Postgres (which we caused to start) is still up.
  const pid = known || Number((await fs.readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => '0')).split('\n')[0]);
  if (pid && isAlive(pid)) {
    process.kill(pid, 'SIGINT');
    for (let i = 0; i < 250 && isAlive(pid); i++) await sleep(20);
  }
}

/** Starts a server (its embedded Postgres in a fresh DATA_DIR), creates the meters and the hot customer. */
async function setUp(tree: 'before' | 'after', cwd: string, suts: Sut[], log: (line: string) => void): Promise<Sut> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), `staryer-bench-ingest-${tree}-`));
  await fs.chmod(dataDir, 0o755);
  const apiKey = `bench_${randomBytes(24).toString('hex')}`;
  const server = new ServerUnderTest(dataDir, apiKey, cwd);
  const partial = { tree, dataDir, server, postmasterPid: 0 } as Sut;
  suts.push(partial);
  log(`ingest: starting the ${tree === 'after' ? '' : 'before-tree '}server (DATA_DIR ${dataDir})`);
  await server.start();
  if (PG_STATS) {
    // pg_stat_statements must be preloaded: set it, then restart the server (and its Postgres).
    const owner = postgres((await ownerUrl(dataDir)).url, { max: 1, onnotice: () => undefined });
    await owner.unsafe('alter system set shared_preload_libraries = pg_stat_statements, auto_explain');
    if (process.env.BENCH_AUTO_EXPLAIN) {
      // Plans of slow statements, with timings, in DATA_DIR/postgres.log (BENCH_KEEP=1 to read it).
      await owner.unsafe(`alter system set auto_explain.log_min_duration = '${Number(process.env.BENCH_AUTO_EXPLAIN)}ms'`);
      await owner`alter system set auto_explain.log_analyze = on`;
      await owner`alter system set auto_explain.log_buffers = on`;
    }
    await owner.end();
    await server.stop();
  }
  if (PG_STATS || CPU_PROF_DIR) {
    if (!PG_STATS) await server.stop();
    const profDir = CPU_PROF_DIR && (tree === 'after' ? CPU_PROF_DIR : path.join(CPU_PROF_DIR, 'before'));
    if (profDir) await fs.mkdir(profDir, { recursive: true });
    await server.start(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []);
  }
  const owner = await ownerUrl(dataDir);
  partial.postmasterPid = owner.postmasterPid;
  partial.ownerUrl = owner.url;
  partial.sql = postgres(owner.url, { max: 2, onnotice: () => undefined, connection: { application_name: 'bench' } });
  if (PG_STATS) await partial.sql`create extension if not exists pg_stat_statements`;
  partial.target = { url: server.url, pid: server.child!.pid!, apiKey };

  log(`ingest: creating meters and the hot customer (${tree})`);
  await server.api('POST', '/api/usage/meters', { event_name: METER, display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls' });
  await server.api('POST', '/api/usage/meters', {
    event_name: HOT_METER,
    display_name: 'Hot calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    plan_limits: [{ plan_name: HOT_PLAN, limit_value: HOT_LIMIT, hard_cap: true }],
  });
  await server.api('PUT', `/api/usage/customers/${HOT_USER}`, { plan_name: HOT_PLAN });

  if (SCENARIOS.has('single') || SCENARIOS.has('batch') || SCENARIOS.has('check')) {
    // Every customer exists before the timed runs (first events create them).
    log(`ingest: creating ${fmtInt(USERS)} customers (batches of ${BATCH}, ${tree})`);
    for (let from = 0; from < USERS; from += BATCH) {
      const events = [];
      for (let i = from; i < Math.min(USERS, from + BATCH); i++) events.push({ event_name: METER, user_id: `user_${i}`, idempotency_key: `seed-${i}` });
      const answer = (await server.api('POST', '/api/usage/track', events)) as { results: Array<{ status: number }> };
      const bad = answer.results.filter((r) => r.status !== 201).length;
      if (bad > 0) throw new Error(`seeding customers: ${bad} events not accepted`);
    }
  }
  // Steady state: the tables as autovacuum leaves them, analyzed. Right after a burst
  // (10,000 customers in a second) and before autovacuum's first pass over the new
  // database (still not there ≈ 20 s later in a run we checked), the planner has no
  // statistics; before round 4 the ingestion statements' generic plans then walked a
  // creator's whole table per key (single events at a ninth of the steady rate), since
  // then the rate is the same (BENCHMARKS.md).
  if (process.env.BENCH_NO_ANALYZE !== '1') await partial.sql`analyze`;
  return partial;
}

export async function runIngest(): Promise<string> {
  const suts: Sut[] = [];
  const extras: ChildProcess[] = [];
  const measured: Measured[] = [];
  const notes: string[] = [];
  const log = (line: string) => console.error(line);
  try {
    const after = await setUp('after', ROOT, suts, log);
    const before = BEFORE_DIR ? await setUp('before', BEFORE_DIR, suts, log) : null;
    const [pgInfo] = await after.sql<Array<{ version: string; sync: string; fsync: string; buffers: string }>>`
      select current_setting('server_version') as version, current_setting('synchronous_commit') as sync,
             current_setting('fsync') as fsync, current_setting('shared_buffers') as buffers`;
    notes.push(`Postgres ${pgInfo!.version} (embedded, started by the server), fsync=${pgInfo!.fsync}, synchronous_commit=${pgInfo!.sync}, shared_buffers=${pgInfo!.buffers}; data in ${os.tmpdir()}.`);
    if (BEFORE_DIR) notes.push(`"(before)" rows: the server of ${BEFORE_DIR} (BENCH_BEFORE), set up the same way with its own DATA_DIR and Postgres, measured right before the same scenario on this tree.`);

    const base: Omit<LoadSpec, 'scenario' | 'url' | 'keyPrefix'> = { connections: CONNECTIONS, users: USERS, batchSize: BATCH, eventName: METER, hotUser: HOT_USER };

    /** Warm-up of the same kind (also the calibration), then a run of a fixed number of requests. */
    const measure = async (
      name: string,
      scenario: Scenario,
      on: Target,
      sut: Sut,
      options: Partial<LoadSpec> & { table?: 'usage_events' | 'bench_naive_events' | 'bench_floor_events' | 'bench_lean_events' } = {},
    ) => {
      const sql = sut.sql;
      const tree = isBaseline(scenario) ? null : sut.tree;
      if (tree === 'before') name = `${name} (before)`;
      const { table, ...overrides } = options;
      const spec: LoadSpec = { ...base, scenario, url: on.url, apiKey: on.apiKey, keyPrefix: '', ...overrides };
      // A batch takes long enough that a warm-up cut off after WARMUP seconds would leave
      // dozens still committing; its warm-up is a fixed number instead, at 16 connections.
      const warmSize = Math.min(16, spec.connections);
      const warmup = scenario === 'batch' || scenario === 'floor-batch' || scenario === 'lean-batch' ? { connections: warmSize, amount: warmSize } : { duration: WARMUP };
      const warm = await load({ ...spec, ...warmup, keyPrefix: `${scenario}-w${randomBytes(3).toString('hex')}` }, `${name} (warm-up)`);
      if (warm.errors > 0 || Object.keys(warm.statuses).some((s) => !s.startsWith('2'))) {
        log(`  warm-up of ${name}: statuses ${JSON.stringify(warm.statuses)}, errors ${warm.errors}`);
      }
      const amount = Math.max(spec.connections, Math.round(warm.requestsPerSecond * DURATION));
      await waitQuiet(sql); // the warm-up's requests still in flight when it stopped
      const keyPrefix = `${scenario}-m${randomBytes(3).toString('hex')}`;
      const pgPid = sut.postmasterPid;
      // The server's own process (all its threads); Postgres is its child, counted apart.
      const ingests = scenario === 'single' || scenario === 'batch' || scenario === 'hot';
      const figuresBefore = ingests ? await scrapeIngest(on.url) : null;
      const before = { server: await cpuSeconds(on.pid), postgres: await treeCpuSeconds(pgPid) };
      if (PG_STATS) await sql`select pg_stat_statements_reset()`;
      const stopSampling = PG_STATS && scenario !== 'hello' ? sampleActivity(sql) : null;
      const started = performance.now();
      const result = await load({ ...spec, amount, keyPrefix }, name);
      const wall = (performance.now() - started) / 1000;
      const activity = stopSampling ? await stopSampling() : null;
      const after = { server: await cpuSeconds(on.pid), postgres: await treeCpuSeconds(pgPid) };
      const figuresAfter = figuresBefore ? await scrapeIngest(on.url) : null;
      const pgStats = PG_STATS && scenario !== 'hello' ? [await statementStats(sql, result.seconds), activity].filter(Boolean).join('\n\n') : undefined;
      let rows: number | null = null;
      let verified: boolean | null = null;
      let eventsPerCommit: number | null = null;
      if (table) {
        const prefix = `${keyPrefix}-`;
        const [found] =
          table === 'usage_events'
            ? await sql<Array<{ n: number; distinct: number; commits: number }>>`
                select count(*)::int as n, count(distinct idempotency_key)::int as distinct, count(distinct received_at)::int as commits
                from usage_events where starts_with(idempotency_key, ${prefix})`
            : await sql<Array<{ n: number; distinct: number; commits: number }>>`
                select count(*)::int as n, count(distinct idempotency_key)::int as distinct, count(distinct received_at)::int as commits
                from ${sql(table)} where starts_with(idempotency_key, ${prefix})`;
        rows = found!.n;
        eventsPerCommit = found!.commits > 0 ? found!.n / found!.commits : null;
        verified = found!.n === result.events201 && found!.distinct === found!.n;
      }
      const eventsPerRequest = scenario === 'batch' || scenario === 'floor-batch' || scenario === 'lean-batch' ? (spec.batchSize ?? BATCH) : 1;
      const m: Measured = {
        name,
        tree,
        scenario,
        connections: spec.connections,
        rate: spec.rate ?? null,
        eventsPerRequest,
        result,
        cpu: { server: (after.server - before.server) / wall, postgres: (after.postgres - before.postgres) / wall, load: result.cpuSeconds / wall },
        eventsPerCommit,
        rows,
        verified,
        pgStats,
        commits: figuresBefore && figuresAfter ? minusFigures(figuresAfter, figuresBefore) : null,
      };
      measured.push(m);
      // What the run wrote is vacuumed and checkpointed now, outside any measurement, so
      // that autovacuum and the checkpointer do not do it during the next run (the other
      // tree's, in a before/after comparison). It did not remove the order effect of
      // BENCH_BEFORE comparisons (BENCHMARKS.md): swap the trees to check a ratio.
      if (table) await settle(sql);
      const r = result;
      log(
        `  ${name}: ${fmtInt(r.requestsPerSecond * eventsPerRequest)} ${scenario === 'hello' || scenario === 'check' ? 'requests' : 'events'}/s, p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, statuses ${JSON.stringify(r.statuses)}` +
          (eventsPerRequest > 1 ? ` events ${JSON.stringify(r.eventStatuses)}` : '') +
          (rows !== null ? `, rows ${fmtInt(rows)} vs 201s ${fmtInt(r.events201)} → ${verified ? 'OK' : 'MISMATCH'}` : ''),
      );
      return m;
    };

    if (SCENARIOS.has('hello')) {
      const port = await freePort();
      const hello = spawnDetached('node', [await writeHelloScript()], { PORT: String(port) });
      extras.push(hello);
      await waitForHealth(`http://127.0.0.1:${port}/`, hello);
      await measure('bare node:http hello world', 'hello', { url: `http://127.0.0.1:${port}`, pid: hello.pid! }, after);
      // The baseline of the one-connection check: what the machine's own latency is.
      if (SCENARIOS.has('check') || SCENARIOS.has('single')) await measure('bare node:http hello world, 1 connection', 'hello', { url: `http://127.0.0.1:${port}`, pid: hello.pid! }, after, { connections: 1 });
      await stop(hello);
    }

    if (SCENARIOS.has('naive')) {
      const port = await freePort();
      const naive = spawnDetached('node', ['--import', 'tsx', path.join(ROOT, 'bench', 'naive-server.ts')], { PORT: String(port), PG_URL: after.ownerUrl, POOL_MAX: '10' });
      extras.push(naive);
      await waitForHealth(`http://127.0.0.1:${port}/`, naive, 30_000);
      await measure('naive 1 tx per event', 'naive', { url: `http://127.0.0.1:${port}`, pid: naive.pid! }, after, { table: 'bench_naive_events' });
      await stop(naive);
    }

    if (SCENARIOS.has('floor') || SCENARIOS.has('floor-batch')) {
      const port = await freePort();
      const floor = spawnDetached('node', ['--import', 'tsx', path.join(ROOT, 'bench', 'floor-server.ts')], { PORT: String(port), PG_URL: after.ownerUrl });
      extras.push(floor);
      await waitForHealth(`http://127.0.0.1:${port}/`, floor, 30_000);
      const target = { url: `http://127.0.0.1:${port}`, pid: floor.pid! };
      if (SCENARIOS.has('floor')) await measure('floor: single events', 'floor', target, after, { table: 'bench_floor_events' });
      if (SCENARIOS.has('floor-batch')) await measure(`floor: batches of ${BATCH}`, 'floor-batch', target, after, { table: 'bench_floor_events' });
      await stop(floor);
    }

    if (SCENARIOS.has('lean') || SCENARIOS.has('lean-batch')) {
      const port = await freePort();
      const lean = spawnDetached('node', ['--import', 'tsx', path.join(ROOT, 'bench', 'floor-server.ts')], { PORT: String(port), PG_URL: after.ownerUrl, LEAN: '1' });
      extras.push(lean);
      await waitForHealth(`http://127.0.0.1:${port}/`, lean, 30_000);
      const target = { url: `http://127.0.0.1:${port}`, pid: lean.pid! };
      if (SCENARIOS.has('lean')) await measure('lean floor: single events', 'lean', target, after, { table: 'bench_lean_events' });
      if (SCENARIOS.has('lean-batch')) await measure(`lean floor: batches of ${BATCH}`, 'lean-batch', target, after, { table: 'bench_lean_events' });
      await stop(lean);
    }

    // Each scenario on the before tree (if any), then on this one, so both see the same machine.
    const trees = before ? [before, after] : [after];
    if (SCENARIOS.has('single')) {
      for (const sut of trees) await measure('single events', 'single', sut.target, sut, { table: 'usage_events' });
      // One event at a time: what an SDK flushing one event waits for.
      for (const sut of trees) await measure('single events, 1 connection', 'single', sut.target, sut, { table: 'usage_events', connections: 1 });
    }
    if (SCENARIOS.has('batch')) for (const sut of trees) await measure(`batches of ${BATCH}`, 'batch', sut.target, sut, { table: 'usage_events' });
    if (SCENARIOS.has('hot')) {
      for (const sut of trees) {
        const m = await measure('hot customer, hard cap', 'hot', sut.target, sut, { table: 'usage_events', eventName: HOT_METER });
        if ((m.result.statuses['402'] ?? 0) > 0) notes.push(`The hot run (${sut.tree}) got 402 answers: the hard cap was reached, which it should not be.`);
      }
    }
    if (SCENARIOS.has('check')) {
      const saturated = new Map<Sut, number>();
      for (const sut of trees) saturated.set(sut, (await measure('check', 'check', sut.target, sut)).result.requestsPerSecond);
      for (const sut of trees) await measure('check, 1 connection', 'check', sut.target, sut, { connections: 1 });
      // Latency under concurrency rather than at saturation: the same 64 connections,
      // offered half the rate they reached above (queueing then no longer sets the p99).
      for (const sut of trees) {
        const rate = Math.round(saturated.get(sut)! / 2);
        await measure(`check, ${fmtInt(rate)} req/s offered`, 'check', sut.target, sut, { rate });
      }
    }

    for (const sut of trees) {
      const label = before ? ` (${sut.tree})` : '';
      // Invariant over everything recorded: each period counter equals its events.
      const mismatched = await sut.sql<Array<{ event_name: string; counters: string; events: string }>>`
        select m.event_name, coalesce(sum(a.event_count), 0) as counters,
               (select count(*) from usage_events e where e.meter_id = m.meter_id) as events
        from usage_meters m left join usage_aggregates a on a.meter_id = m.meter_id and a.window = 'period'
        group by m.meter_id, m.event_name`;
      for (const row of mismatched) {
        const ok = Number(row.counters) === Number(row.events);
        notes.push(`Meter \`${row.event_name}\`${label}: ${fmtInt(Number(row.events))} events recorded, period counters sum to ${fmtInt(Number(row.counters))} — ${ok ? 'equal' : 'NOT EQUAL'}.`);
      }
      const [cap] = await sut.sql<Array<{ value: string }>>`
        select a.value from usage_aggregates a join customers c on c.customer_id = a.customer_id join usage_meters m on m.meter_id = a.meter_id
        where c.user_id = ${HOT_USER} and m.event_name = ${HOT_METER} and a.window = 'period'`;
      if (cap) notes.push(`Hot customer's counter${label}: ${fmtInt(Number(cap.value))} of the ${fmtInt(HOT_LIMIT)} hard cap.`);
      if (process.env.BENCH_WORKERS === '1') {
        const [backlog] = await sut.sql<Array<{ jobs: string; events: string }>>`
          select count(*) as jobs, coalesce(sum(jsonb_array_length(data -> 'eventIds')), 0) as events
          from pgboss.job where name = 'rollups.apply' and state in ('created', 'retry', 'active')`;
        notes.push(`Rollup jobs not yet applied at the end${label}: ${fmtInt(Number(backlog!.jobs))} (${fmtInt(Number(backlog!.events))} events).`);
      }
    }
  } catch (error) {
    for (const sut of suts) console.error(`\nThe ingestion benchmark failed. Server log of ${sut.tree} (tail):\n${await sut.server.logTail()}`);
    throw error;
  } finally {
    for (const child of extras) await stop(child);
    for (const sut of suts) {
      await sut.sql?.end({ timeout: 5 });
      await sut.server.stop();
      await stopPostgres(sut.dataDir, sut.postmasterPid);
      if (process.env.BENCH_KEEP === '1') log(`ingest: DATA_DIR kept: ${sut.dataDir}`);
      else await fs.rm(sut.dataDir, { recursive: true, force: true });
    }
  }
  return report(measured, notes);
}

/** Baselines run on this tree's Postgres whatever the trees compared: not the product. */
const isBaseline = (s: Scenario) => s === 'hello' || s === 'naive' || s === 'floor' || s === 'floor-batch' || s === 'lean' || s === 'lean-batch';

function report(measured: Measured[], notes: string[]): string {
  const find = (s: Scenario, connections = CONNECTIONS, tree: Measured['tree'] = isBaseline(s) ? null : 'after', paced = false) =>
    measured.find((m) => m.scenario === s && m.connections === connections && m.tree === tree && (m.rate !== null) === paced);
  const hello = find('hello');
  // Rows are compared with the hello world at their own connection count when there is one.
  const helloFor = (m: Measured) => find('hello', m.connections) ?? hello;
  const naive = find('naive');
  const perSecond = (m: Measured) => m.result.requestsPerSecond * m.eventsPerRequest;
  const ratio = (value: number, baseline: Measured | undefined) => {
    if (!baseline) return '–';
    const r = value / perSecond(baseline);
    return `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`;
  };
  const rows = measured.map((m) => {
    const r = m.result;
    const unit = m.scenario === 'hello' || m.scenario === 'check' ? 'req/s' : 'events/s';
    const statuses = Object.entries(r.statuses)
      .map(([s, n]) => `${s}: ${fmtInt(n)}`)
      .join(', ');
    const check = m.verified === null ? '–' : m.verified ? `✔ ${fmtInt(m.rows!)} = ${fmtInt(r.events201)}` : `✘ ${fmtInt(m.rows!)} ≠ ${fmtInt(r.events201)}`;
    return `| ${m.name} | ${m.connections} | ${fmtInt(r.requests)} (${statuses}${r.errors ? `, ${r.errors} errors` : ''}) | **${fmtInt(perSecond(m))}** ${unit} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${ratio(perSecond(m), helloFor(m))} | ${m.scenario === 'hello' || m.scenario === 'check' ? '–' : ratio(perSecond(m), naive)} | ${m.cpu.server.toFixed(2)} / ${m.cpu.postgres.toFixed(2)} / ${m.cpu.load.toFixed(2)} | ${m.eventsPerCommit === null ? '–' : m.eventsPerCommit.toFixed(1)} | ${check} |`;
  });
  const single = find('single');
  const batch = find('batch');
  const floorSingle = find('floor');
  const floorBatch = find('floor-batch');
  const leanSingle = find('lean');
  const leanBatch = find('lean-batch');
  const ofFloors = (m: Measured | undefined, ...floors: Array<[string, Measured | undefined]>) => {
    const parts = floors.flatMap(([label, floor]) => (m && floor ? [`${((100 * perSecond(m)) / perSecond(floor)).toFixed(0)} % of the ${label}'s ${fmtInt(perSecond(floor))}`] : []));
    return parts.length ? ` (${parts.join('; ')})` : '';
  };
  const check1 = find('check', 1);
  const check64 = find('check');
  const checkPaced = find('check', CONNECTIONS, 'after', true);
  const verdict = (ok: boolean) => (ok ? '**met**' : '**not met**');
  const targets = [
    '| target | measured | |',
    '| --- | --- | --- |',
    single ? `| ≥ 10,000 single events/s, durable | ${fmtInt(perSecond(single))} events/s${ofFloors(single, ['floor', floorSingle], ['lean floor', leanSingle])} | ${verdict(perSecond(single) >= 10_000)} |` : null,
    batch ? `| ≥ 100,000 batched events/s, durable | ${fmtInt(perSecond(batch))} events/s${ofFloors(batch, ['floor', floorBatch], ['lean floor', leanBatch])} | ${verdict(perSecond(batch) >= 100_000)} |` : null,
    check1
      ? `| check p99 < 2 ms (1 connection) | ${fmtMs(check1.result.p99)} ms${find('hello', 1) ? ` (bare hello world at 1 connection: ${fmtMs(find('hello', 1)!.result.p99)} ms)` : ''} | ${verdict(check1.result.p99 < 2)} |`
      : null,
    check64 ? `| check p99 < 2 ms (64 connections, saturated) | ${fmtMs(check64.result.p99)} ms | ${verdict(check64.result.p99 < 2)} |` : null,
    checkPaced
      ? `| check p99 < 2 ms (64 connections, ${fmtInt(checkPaced.rate!)} req/s offered) | ${fmtMs(checkPaced.result.p99)} ms | ${verdict(checkPaced.result.p99 < 2)} |`
      : null,
  ].filter(Boolean);
  const profiles = measured.filter((m) => m.pgStats).map((m) => `#### ${m.name}\n\n${m.pgStats}`);
  const withCommits = measured.filter((m): m is Measured & { commits: IngestFigures } => m.commits !== null && m.commits.commits > 0);
  const commitTable = withCommits.length
    ? [
        '',
        'Group commits during each run, from the server’s own /metrics (the warm-up’s last commits may be in them):',
        '',
        '| run | conns | transactions committed | of which judged from memory | memory missed | events per commit | commit ms (mean) | queue wait ms (mean) | retried / split / failed |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...withCommits.map(({ name, connections, commits: c }) => {
          const ms = (seconds: number, n: number) => (n > 0 ? ((seconds * 1000) / n).toFixed(2) : '–');
          return `| ${name} | ${connections} | ${fmtInt(c.committed)} | ${fmtInt(c.fromMemory)} | ${fmtInt(c.memoryMissed)} | ${(c.events / c.commits).toFixed(1)} | ${ms(c.commitSeconds, c.commits)} | ${ms(c.waitSeconds, c.waits)} | ${c.retried} / ${c.split} / ${c.failed} |`;
        }),
      ]
    : [];
  const pairs = measured
    .filter((m) => m.tree === 'after')
    .map((m) => ({ m, b: find(m.scenario, m.connections, 'before', m.rate !== null) }))
    .filter((x): x is { m: Measured; b: Measured } => x.b !== undefined);
  const compared = pairs.length
    ? [
        '',
        'Before/after in this run (BENCH_BEFORE), after ÷ before:',
        '',
        '| run | conns | throughput before → after | × | p50 ms before → after | p99 ms before → after | server CPU ms per event (or request) before → after |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        ...pairs.map(({ m, b }) => {
          const cpuPer = (x: Measured) => ((x.cpu.server * 1000) / perSecond(x)).toFixed(3);
          return `| ${m.name} | ${m.connections} | ${fmtInt(perSecond(b))} → **${fmtInt(perSecond(m))}** | **${(perSecond(m) / perSecond(b)).toFixed(2)}×** | ${fmtMs(b.result.p50)} → ${fmtMs(m.result.p50)} | ${fmtMs(b.result.p99)} → ${fmtMs(m.result.p99)} | ${cpuPer(b)} → ${cpuPer(m)} |`;
        }),
      ]
    : [];
  return [
    `### Ingestion: ${CONNECTIONS} connections (autocannon in its own process), ${fmtInt(USERS)} customers, measured runs of ≈${DURATION} s after a ${WARMUP} s warm-up`,
    '',
    '| run | conns | requests (statuses) | throughput | p50 ms | p99 ms | × hello world | × naive | CPU cores server / Postgres / load gen | events per commit | rows = 201s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    ...commitTable,
    '',
    ...compared,
    '',
    ...targets,
    '',
    ...notes.map((n) => `- ${n}`),
    ...(profiles.length ? ['', ...profiles] : []),
  ].join('\n');
}
