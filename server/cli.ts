import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { runMigrations } from '../db/migrate.js';
import { API_KEY_SCOPES, type ApiKeyScope } from '../db/schema.js';
import { boot, resolveDatabase, type Booted } from './boot.js';
import { env as readEnv, EnvError } from './env.js';
import { AppError } from './errors.js';
import { createLogger } from './logger.js';
import { ZEmail, ZNewPassword } from './schemas/auth.js';
import { createApiKey, revokeApiKeyByPrefix } from './services/api-keys.js';
import { createCreatorAccount, getCreatorByEmailAsOwner } from './services/creators.js';
import { checkConsistency, rebuildAggregates } from './services/rollups.js';

/**
 * `staryer-usage`: administration from the shell, against the same database as
 * `npm start` (DATABASE_URL, or the embedded Postgres in DATA_DIR — reused if the
 * server is running, started and stopped again if not). Results are JSON on stdout;
 * logs go to stderr.
 */
const log = () => createLogger(process.env.LOG_LEVEL ?? 'warn').child({ component: 'cli' });

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
  const booted = await boot({ env: { ...env, STARYER_BOOTSTRAP_EMAIL: undefined }, workers: false, log: createLogger(env.LOG_LEVEL === 'info' ? 'warn' : env.LOG_LEVEL) });
  try {
    return await fn(booted);
  } finally {
    await booted.close();
  }
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

const program = new Command()
  .name('staryer-usage')
  .description('Staryer Usage administration (same database as `npm start`)')
  .showHelpAfterError();

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(async () => {
    const env = readEnv();
    const { ownerUrl, embedded } = await resolveDatabase(env, log());
    try {
      await runMigrations(ownerUrl);
      print({ migrated: true });
    } finally {
      if (embedded?.owned) await embedded.stop();
    }
  });

program
  .command('worker')
  .description('run the background job workers in this process (no HTTP server)')
  .action(async () => {
    const env = readEnv();
    const logger = createLogger(env.LOG_LEVEL);
    const booted = await boot({ env, workers: true, log: logger });
    logger.info('workers running; Ctrl-C to stop');
    const stop = async () => {
      await booted.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop());
    process.on('SIGTERM', () => void stop());
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
  .option('--name <name>', 'a name to recognise the key by', 'cli')
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

const ZInstant = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 timestamp, e.g. 2026-01-31T00:00:00Z' }).transform((v) => new Date(v));

const aggregates = program.command('aggregates').description('hourly and daily usage rollups');
aggregates
  .command('rebuild')
  .description('recompute a creator’s hour and day rollups from raw events, whole UTC days at a time; prints a JSON summary')
  .requiredOption('--creator <email>', 'the creator’s email', parseWith(ZEmail, 'creator'))
  .option('--from <iso>', 'first instant to rebuild (default: the first event or rollup)', parseWith(ZInstant, 'from'))
  .option('--to <iso>', 'end of the range, exclusive (default: after the last event or rollup)', parseWith(ZInstant, 'to'))
  .action(async (options: { creator: string; from?: Date; to?: Date }) => {
    await withApp(async ({ rt }) => {
      const owner = await getCreatorByEmailAsOwner(rt, options.creator);
      // Progress on stderr, so stdout stays one JSON document; drawn only on a terminal.
      const bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: 'rebuilding {bar} {value}/{total} days | {eta_formatted} left', hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      try {
        const result = await rebuildAggregates(rt, owner.id, {
          from: options.from,
          to: options.to,
          onProgress: (done, total) => {
            if (!started) bar.start(total, done);
            else bar.update(done);
            started = true;
          },
        });
        bar.stop();
        print(result);
      } catch (error) {
        bar.stop();
        throw error;
      }
    });
  });
aggregates
  .command('check')
  .description('compare period counters, hourly/daily rollups and raw events of every creator; prints the disagreements as JSON')
  .option('--since <iso>', 'check billing periods ending after this instant (default: 62 days ago)', parseWith(ZInstant, 'since'))
  .action(async (options: { since?: Date }) => {
    await withApp(async ({ rt }) => {
      print(await checkConsistency(rt, { since: options.since }));
    });
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof EnvError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(78);
  }
  if (error instanceof AppError) {
    process.stderr.write(`error: ${error.detail}\n`);
    process.exit(error.category === 'not_found' ? 3 : error.category === 'conflict' ? 4 : 2);
  }
  process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
