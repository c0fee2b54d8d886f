import cliProgress from 'cli-progress';
import pino from 'pino';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { UnsafeAppRoleError } from '../db/client.js';
import { DataDirError, EmbeddedStartError, MissingCredentialsError } from '../db/embedded.js';
import { DatabaseLoginError, DatabaseUnreachableError, runMigrations } from '../db/migrate.js';
import { API_KEY_SCOPES, type ApiKeyScope } from '../db/schema.js';
import { boot, orderlyStop, resolveDatabase, type Booted } from './boot.js';
import { env as readEnv, EnvError } from './env.js';
import { AppError } from './errors.js';
import { createLogger } from './logger.js';
import { VERSION } from './version.js';
import { ZCreateApiKeyInput } from './schemas/api-keys.js';
import { ZEmail, ZNewPassword } from './schemas/auth.js';
import { ZInstantInput } from './schemas/common.js';
import { createApiKey, revokeApiKeyByPrefix } from './services/api-keys.js';
import { isBootstrapConflict } from './services/bootstrap.js';
import { createCreatorAccount, getCreatorByEmailAsOwner } from './services/creators.js';
import { repairPeriodCounters } from './services/counter-repair.js';
import { checkConsistency, rebuildAggregates } from './services/rollups.js';
import { SEED_LIMITS, seedDemo, type SeedPhase } from './services/seed.js';

/**
 * `staryer-usage`: administration from the shell, against the same database as
 * `npm start` (DATABASE_URL, or the embedded Postgres in DATA_DIR — reused if the
 * server is running, started and stopped again if not). Results are JSON on stdout;
 * logs go to stderr.
 */
/** Logs on stderr: stdout is the command's JSON answer alone (a warning there broke `| jq`). */
const STDERR = pino.destination(2);
// `||`: a blank LOG_LEVEL means unset, as the environment check reads it (pino refuses '').
const log = () => createLogger(process.env.LOG_LEVEL || 'warn', {}, STDERR).child({ component: 'cli' });

/**
 * Ctrl-C (or SIGTERM) in a one-shot command: `stop` (closing what the command started — the
 * embedded Postgres included, which is detached from the terminal and never gets the signal
 * itself), then exit 130/143. A stop that does not finish within 10 s exits anyway.
 */
function stopOnSignal(stop: () => Promise<void>): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const code = signal === 'SIGINT' ? 130 : 143;
    process.stderr.write(`\n${signal}: stopping…\n`);
    const exit = () => process.exit(code);
    setTimeout(exit, 10_000).unref();
    void stop().then(exit, exit);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

function parseWith<T>(schema: z.ZodType<T>, label: string) {
  return (value: string): T => {
    const result = schema.safeParse(value);
    if (!result.success) throw new InvalidArgumentError(`${label} ${result.error.issues[0]?.message ?? 'is invalid'}`);
    return result.data;
  };
}

const parseScopes = (value: string): ApiKeyScope[] => {
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = scopes.filter((s) => !(API_KEY_SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || bad.length > 0) {
    throw new InvalidArgumentError(`scopes must be a comma-separated list of ${API_KEY_SCOPES.join(', ')}${bad.length ? ` (not ${bad.join(', ')})` : ''}`);
  }
  return [...new Set(scopes)] as ApiKeyScope[];
};

async function withApp<T>(fn: (booted: Booted) => Promise<T>): Promise<T> {
  const env = readEnv();
  // A signal during boot closes it once it is up (its Postgres may be starting).
  let up: Promise<Booted> | null = null;
  const release = stopOnSignal(async () => {
    if (up) await (await up).close();
  });
  try {
    up = boot({ env: { ...env, STARYER_BOOTSTRAP_EMAIL: undefined }, workers: false, log: createLogger(env.LOG_LEVEL === 'info' ? 'warn' : env.LOG_LEVEL, {}, STDERR) });
    const booted = await up;
    try {
      return await fn(booted);
    } finally {
      await booted.close();
    }
  } finally {
    release();
  }
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

const program = new Command()
  .name('staryer-usage')
  .description('Staryer Usage administration (same database as `npm start`)')
  .version(VERSION, '-V, --version', 'print the version of Staryer Usage')
  .showHelpAfterError();

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(async () => {
    const env = readEnv();
    const { ownerUrl, embedded } = await resolveDatabase(env, log());
    const release = stopOnSignal(async () => {
      await embedded?.stop();
    });
    try {
      await runMigrations(ownerUrl);
      print({ migrated: true });
    } finally {
      release();
      await embedded?.stop(); // a no-op unless this command started it
    }
  });

program
  .command('worker')
  .description('run the background job workers in this process (no HTTP server)')
  .action(async () => {
    const env = readEnv();
    // Logs go to stderr, as every command's do (README: output on stdout, logs on stderr).
    const logger = createLogger(env.LOG_LEVEL, {}, STDERR);
    const lifecycle = orderlyStop(logger);
    await lifecycle.started(await boot({ env, workers: true, log: logger }));
    logger.info('workers running; Ctrl-C to stop');
    await new Promise(() => undefined);
  });

const creator = program.command('creator').description('creator accounts');
creator
  .command('create')
  .description('create a creator and an admin API key; prints {"creatorId","apiKey"}')
  .requiredOption('--email <email>', 'login email', parseWith(ZEmail, 'email'))
  .requiredOption('--name <name>', 'display name', parseWith(z.string().trim().min(1).max(120), 'name'))
  .option('--password <password>', 'dashboard password (without one, the account is API-only)', parseWith(ZNewPassword, 'password'))
  .action(async (options: { email: string; name: string; password?: string }) => {
    await withApp(async ({ rt }) => {
      const created = await createCreatorAccount(rt, options);
      const { secret } = await createApiKey(rt, created.id, { name: 'cli', scopes: ['admin'] });
      print({ creatorId: created.id, apiKey: secret });
    });
  });

const key = program.command('key').description('API keys');
key
  .command('create')
  .description('create an API key for a creator; prints {"apiKey","prefix","scopes"}')
  .requiredOption('--creator <email>', 'the creator’s email', parseWith(ZEmail, 'creator'))
  .option('--scopes <scopes>', `comma-separated: ${API_KEY_SCOPES.join(',')}`, parseScopes, ['track'] as ApiKeyScope[])
  .option('--name <name>', 'a name to recognise the key by (1–100 characters, as in the dashboard)', parseWith(ZCreateApiKeyInput.shape.name, 'name'), 'cli')
  .action(async (options: { creator: string; scopes: ApiKeyScope[]; name: string }) => {
    await withApp(async ({ rt }) => {
      const owner = await getCreatorByEmailAsOwner(rt, options.creator);
      const { key: created, secret } = await createApiKey(rt, owner.id, { name: options.name, scopes: options.scopes });
      print({ apiKey: secret, prefix: created.prefix, scopes: created.scopes });
    });
  });
key
  .command('revoke')
  .description('revoke the active API key with this display prefix')
  .argument('<prefix>', 'the key’s prefix, as listed in the dashboard (e.g. su_live_Ab3dE9)')
  .action(async (prefix: string) => {
    await withApp(async ({ rt }) => {
      const revoked = await revokeApiKeyByPrefix(rt, prefix);
      print({ revoked: true, prefix: revoked.prefix, id: revoked.id });
    });
  });

/** The exit of `aggregates check` when it found disagreements (1–4 are errors, 78 configuration). */
const CHECK_FOUND_DISAGREEMENTS = 5;

const ZInstant = ZInstantInput('must be an ISO 8601 timestamp, e.g. 2026-01-31T00:00:00Z').transform((v) => new Date(v));

/**
 * A bar on stderr (stdout stays one JSON document; drawn only on a terminal) for work that
 * reports `onProgress(done, total)`: started on the first call, and not updated again in the
 * same instant with the same figure (cli-progress's ETA would be 0 ÷ 0, "ETA LLs").
 */
function progressBar(format: string): { onProgress: (done: number, total: number) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true }, cliProgress.Presets.shades_classic);
  let shown = -1;
  return {
    onProgress: (done, total) => {
      if (shown === -1) bar.start(total, done);
      else if (done !== shown || total !== bar.getTotal()) {
        if (total !== bar.getTotal()) bar.setTotal(total); // known once the work is measured (repair: after its scan)
        bar.update(done);
      }
      shown = done;
    },
    stop: () => bar.stop(),
  };
}

const aggregates = program.command('aggregates').description('hourly and daily usage rollups');
aggregates
  .command('rebuild')
  .description('recompute a creator’s hour, day, dimension and meter rollups from raw events, whole UTC days at a time; prints a JSON summary')
  .requiredOption('--creator <email>', 'the creator’s email', parseWith(ZEmail, 'creator'))
  .option('--from <iso>', 'first instant to rebuild (default: the first event or rollup)', parseWith(ZInstant, 'from'))
  .option('--to <iso>', 'end of the range, exclusive (default: after the last event or rollup)', parseWith(ZInstant, 'to'))
  .action(async (options: { creator: string; from?: Date; to?: Date }) => {
    await withApp(async ({ rt }) => {
      const owner = await getCreatorByEmailAsOwner(rt, options.creator);
      const bar = progressBar('rebuilding {bar} {value}/{total} days | {eta_formatted} left');
      const result = await rebuildAggregates(rt, owner.id, { from: options.from, to: options.to, onProgress: bar.onProgress }).finally(bar.stop);
      print(result);
    });
  });
aggregates
  .command('check')
  .description('compare period counters, hourly/daily rollups and raw events of every creator; prints the disagreements as JSON')
  .option('--since <iso>', 'check billing periods ending after this instant (default: 62 days ago)', parseWith(ZInstant, 'since'))
  .action(async (options: { since?: Date }) => {
    await withApp(async ({ rt }) => {
      // Each creator's five comparisons, each reading its raw events.
      const bar = progressBar('checking {bar} {value}/{total} comparisons | {eta_formatted} left');
      const report = await checkConsistency(rt, { since: options.since, onProgress: bar.onProgress }).finally(bar.stop);
      print(report);
      // Disagreements found: a non-zero exit, so that cron or a script notices without reading the JSON.
      if (report.disagreements.length > 0) process.exitCode = CHECK_FOUND_DISAGREEMENTS;
    });
  });

aggregates
  .command('repair')
  .description('set a creator’s period counters that disagree with their raw events to what the events give (limits and Stripe reports follow the counters); prints what it changed as JSON')
  .requiredOption('--creator <email>', 'the creator’s email', parseWith(ZEmail, 'creator'))
  .option('--since <iso>', 'repair billing periods ending after this instant (default: 62 days ago)', parseWith(ZInstant, 'since'))
  .option('--dry-run', 'say what would change, change nothing')
  .action(async (options: { creator: string; since?: Date; dryRun?: boolean }) => {
    await withApp(async ({ rt }) => {
      const owner = await getCreatorByEmailAsOwner(rt, options.creator);
      // Step 1, the scan of the periods' raw events, is most of the time; then each counter found.
      const bar = progressBar('repairing {bar} {value}/{total} steps (scan of raw events, then each counter) | {eta_formatted} left');
      const result = await repairPeriodCounters(rt, owner.id, { since: options.since, dryRun: options.dryRun === true, onProgress: bar.onProgress }).finally(bar.stop);
      print(result);
      // Counters still disagreeing with their events (a dry run's, or ones without a counter row): as `check` says so.
      if (result.left > 0) process.exitCode = CHECK_FOUND_DISAGREEMENTS;
    });
  });

const parseCount = (label: string, min: number, max: number) =>
  parseWith(
    z
      .string()
      .regex(/^-?\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max.toLocaleString('en-US')}`)),
    label,
  );

program
  .command('seed')
  .description('fill a demo creator with meters, plans, customers and millions of usage events (COPY), and every table derived from them; prints a JSON summary')
  .option('--email <email>', 'the demo creator’s login email', parseWith(ZEmail, 'email'), 'demo@staryer.local')
  .option('--password <password>', 'its dashboard password (default: a random one, printed at the end)', parseWith(ZNewPassword, 'password'))
  .option('--events <n>', 'raw usage events to generate', parseCount('--events', 1, SEED_LIMITS.events), 1_000_000)
  .option('--customers <n>', 'customers (Zipf-skewed usage)', parseCount('--customers', 1, SEED_LIMITS.customers), 10_000)
  .option('--meters <n>', 'meters (the first five cover count, sum, max, unique, duration)', parseCount('--meters', 1, SEED_LIMITS.meters), 20)
  .option('--days <n>', 'days of history, ending now', parseCount('--days', 1, SEED_LIMITS.days), 90)
  .option('--seed <n>', 'seed of the random generator, for a reproducible data set', parseCount('--seed', 0, 2 ** 31 - 1))
  .option('--append', 'add events to the existing demo creator (its meters and customers)')
  .option('--reset', 'delete the existing demo creator and all its data first')
  .action(async (options: { email: string; password?: string; events: number; customers: number; meters: number; days: number; seed?: number; append?: boolean; reset?: boolean }) => {
    if (options.append && options.reset) program.error('error: --append and --reset cannot be combined', { exitCode: 1 });
    await withApp(async ({ rt }) => {
      const tty = process.stderr.isTTY;
      const bars = new Map<SeedPhase, InstanceType<typeof cliProgress.SingleBar>>();
      const started = new Map<SeedPhase, number>();
      const formats: Record<SeedPhase, string> = {
        events: 'events   {bar} {percentage}% | {value}/{total} | {rate} events/s | ETA {eta_formatted}',
        counters: 'counters {bar} {value}/{total} steps (period counters, distinct values, alerts)',
        rollups: 'rollups  {bar} {value}/{total} weeks | ETA {eta_formatted}',
        analyze: 'analyze  {bar} {value}/{total}',
      };
      let last: SeedPhase | null = null;
      const onProgress = (phase: SeedPhase, done: number, total: number) => {
        if (!tty) {
          if (phase !== last) process.stderr.write(`seed: ${phase}…\n`);
          last = phase;
          return;
        }
        let bar = bars.get(phase);
        if (!bar) {
          for (const other of bars.values()) other.stop();
          bar = new cliProgress.SingleBar({ stream: process.stderr, format: formats[phase], hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic);
          bars.set(phase, bar);
          started.set(phase, performance.now());
          bar.start(total, done, { rate: '0' });
          // Not updated in the same instant: cli-progress's ETA would be 0 ÷ 0 ("ETA LLs").
          return;
        }
        const seconds = (performance.now() - started.get(phase)!) / 1000;
        bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds).toLocaleString('en-US') : '0' });
      };
      try {
        print(await seedDemo(rt, options, onProgress));
      } finally {
        for (const bar of bars.values()) bar.stop();
      }
    });
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof EnvError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(78);
  }
  // As the server answers them (server/main.ts): a configuration error (78), the database unreachable (1); the message, no stack.
  if (error instanceof UnsafeAppRoleError || error instanceof MissingCredentialsError || error instanceof DataDirError || error instanceof DatabaseLoginError || isBootstrapConflict(error)) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(78);
  }
  if (error instanceof AppError) {
    process.stderr.write(`error: ${error.detail}\n`);
    process.exit(error.category === 'not_found' ? 3 : error.category === 'conflict' ? 4 : 2);
  }
  if (error instanceof DatabaseUnreachableError || error instanceof EmbeddedStartError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
