import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { assertRowLevelSecurityApplies, openAppPool, openPool, withDatabase, type DbPool } from '../db/client.js';
import { MissingCredentialsError, startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded.js';
import { describeDatabase, ensureDatabase, runMigrations } from '../db/migrate.js';
import { BOSS_SCHEMA, startBoss } from '../jobs/boss.js';
import { startWorkers, stopWorkers } from '../jobs/worker.js';
import type { TEnv } from './env.js';
import { createLogger, stopOnUnhandledErrors, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import type { Runtime } from './runtime.js';
import { API_KEY_REVOKED_CHANNEL, createApiKeyCache } from './services/api-key-cache.js';
import { flushApiKeyUsage } from './services/api-keys.js';
import { bootstrapFromEnv } from './services/bootstrap.js';
import { GroupCommitter } from './services/group-commit.js';
import { createAuthRateLimiter } from './services/rate-limit.js';

export type Booted = {
  rt: Runtime;
  ownerUrl: string;
  /** The application pool's driver, for shutdown and fault-injection in tests. */
  appSql: DbPool['sql'];
  close: () => Promise<void>;
  /** Stops the embedded Postgres this process started, if any, and nothing else: the last resort of a shutdown that did not finish. */
  stopDatabase: () => Promise<void>;
};

/** How long a shutdown may take before the process stops its Postgres and exits anyway. */
const SHUTDOWN_GRACE_MS = 20_000;

/**
 * The last resort of a shutdown: if the process has not exited `ms` after this call, it
 * stops the embedded Postgres it started (waiting at most 5 s for it) and exits 1.
 */
function exitIfStillRunningAfter(booted: Booted, log: Logger, ms: number): void {
  const force = setTimeout(() => {
    log.error({ ms }, 'shutdown did not finish in time: stopping Postgres and exiting');
    void Promise.race([booted.stopDatabase(), new Promise((resolve) => setTimeout(resolve, 5_000))]).finally(() => process.exit(1));
  }, ms);
  force.unref();
}

/** A process's orderly stop (see orderlyStop). */
export type OrderlyStop = {
  /** Stops once: the first reason wins and gives the exit code. */
  stop: (reason: string, code?: number) => Promise<void>;
  /** boot() has returned: a stop asked for while starting happens now. */
  started: (booted: Booted) => Promise<void>;
  readonly stopping: boolean;
};

/**
 * How `npm start`'s server and `staryer-usage worker` stop, handled from their first
 * moment: SIGINT, SIGTERM and an error nothing handled (logged as fatal, exit 1) stop the
 * process; asked while it is still starting, the stop happens once boot() has returned.
 * A stop runs `beforeClose` (the server stops taking requests), then closes what boot()
 * started (workers, pools, the embedded Postgres) and exits; the grace timer ends one
 * that hangs.
 */
export function orderlyStop(log: Logger, beforeClose: () => Promise<void> = async () => undefined): OrderlyStop {
  let booted: Booted | null = null;
  let stopping = false;
  let exitCode = 0;
  const finish = async (running: Booted) => {
    exitIfStillRunningAfter(running, log, SHUTDOWN_GRACE_MS);
    await beforeClose();
    await running.close();
    log.info('stopped');
    process.exit(exitCode);
  };
  // A stop asked for while boot() waits (on the migration lock, another process's Postgres, a
  // database that does not answer) would otherwise wait as long as it does, possibly forever.
  let startupGrace: ReturnType<typeof setTimeout> | null = null;
  const stop = async (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ signal: reason }, 'shutting down');
    if (booted) await finish(booted);
    else {
      startupGrace = setTimeout(() => {
        log.error({ ms: SHUTDOWN_GRACE_MS }, 'start-up did not finish within the shutdown grace: exiting without it');
        process.exit(code || 1);
      }, SHUTDOWN_GRACE_MS);
      startupGrace.unref();
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  stopOnUnhandledErrors(log, (code) => void stop('unhandled error', code));
  return {
    stop,
    started: async (running) => {
      booted = running;
      if (startupGrace) clearTimeout(startupGrace);
      if (stopping) await finish(running);
    },
    get stopping() {
      return stopping;
    },
  };
}

export const EMBEDDED_DATABASE = 'staryer';

/** Connections of the job workers' pool (3 local workers on each of their queues share it). */
const WORKER_POOL_MAX = 8;

/** The owner URL: DATABASE_URL, or the embedded Postgres in DATA_DIR (started or reused). */
export async function resolveDatabase(env: TEnv, log: Logger): Promise<{ ownerUrl: string; embedded: EmbeddedPostgres | null }> {
  if (env.DATABASE_URL) return { ownerUrl: env.DATABASE_URL, embedded: null };
  const embedded = await startEmbeddedPostgres({
    dataDir: env.dataDir,
    port: env.EMBEDDED_PG_PORT,
    log: (message) => log.info({ component: 'embedded-postgres' }, message),
  });
  const ownerUrl = withDatabase(embedded.url, EMBEDDED_DATABASE);
  try {
    await ensureDatabase(ownerUrl);
  } catch (error) {
    // Started for nothing: stopped again (it was left running, holding its port, after the exit).
    await embedded.stop().catch((stopError: unknown) => log.warn({ err: stopError }, 'stopping the embedded Postgres failed'));
    const code = (error as { code?: string }).code;
    if (code === '28P01' || code === '28000') {
      throw new MissingCredentialsError(
        `The embedded Postgres in ${env.dataDir} refused the password in ${env.dataDir}/pg-credentials.json: that file is not this cluster's. Restore it from the backup you took of ${env.dataDir} with this cluster.`,
      );
    }
    throw error;
  }
  return { ownerUrl, embedded };
}

export type BootOptions = {
  env: TEnv;
  /** Run pg-boss workers and schedules in this process. */
  workers: boolean;
  log?: Logger;
  /** Tests pass a database they prepared; nothing is started or migrated then. */
  database?: { ownerUrl: string; migrated: boolean };
  now?: () => Date;
};

/**
 * Brings up everything a process of ours needs, in order: the database (embedded or
 * DATABASE_URL), migrations, pools, pg-boss, the runtime, the bootstrap creator, and
 * optionally the workers. close() undoes it in reverse.
 */
export async function boot(options: BootOptions): Promise<Booted> {
  const { env } = options;
  const log = options.log ?? createLogger(env.LOG_LEVEL);
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch((error: unknown) => log.warn({ err: error }, 'shutdown step failed'));
  };
  let stopDatabase: () => Promise<void> = () => Promise.resolve();
  try {
    let ownerUrl: string;
    if (options.database) {
      ownerUrl = options.database.ownerUrl;
      if (!options.database.migrated) await runMigrations(ownerUrl);
    } else {
      const resolved = await resolveDatabase(env, log);
      ownerUrl = resolved.ownerUrl;
      if (!resolved.embedded) log.info({ database: describeDatabase(ownerUrl) }, 'connecting to DATABASE_URL');
      if (resolved.embedded) {
        // Stops it if this process owns it by then (it may take over one it shared).
        const embedded = resolved.embedded;
        closers.push(() => embedded.stop());
        stopDatabase = () => embedded.stop();
      }
      await runMigrations(ownerUrl);
    }

    const poolMax = 10;
    const app: DbPool = openAppPool({ ownerUrl, appUrl: env.APP_DATABASE_URL, max: poolMax });
    closers.push(() => app.sql.end({ timeout: 5 }));
    const pipelined: DbPool = openAppPool({ ownerUrl, appUrl: env.APP_DATABASE_URL, max: 2 });
    closers.push(() => pipelined.sql.end({ timeout: 5 }));
    const owner: DbPool = openPool(ownerUrl, { max: 3, applicationName: 'staryer-admin' });
    closers.push(() => owner.sql.end({ timeout: 5 }));
    await assertRowLevelSecurityApplies(app.sql, owner.sql);

    // The job workers' pool, if this process runs workers: closed after pg-boss has stopped,
    // since until then (its graceful timeout) a running job may still be using it.
    let workerPool: DbPool | null = null;
    closers.push(async () => {
      await workerPool?.sql.end({ timeout: 5 });
    });
    const boss: PgBoss = await startBoss(ownerUrl, {
      schedule: options.workers,
      onError: (error) => log.error({ err: error }, 'pg-boss error'),
    });
    closers.push(() => boss.stop({ graceful: true, timeout: 10_000 }));
    const now = options.now ?? (() => new Date());
    const metrics = createMetrics();
    metrics.dbPoolMax.set(poolMax);
    const ingest = new GroupCommitter(app.db, { boss, maxEvents: 1000, maxInFlight: 4, smallQueueInFlight: 2, largeQueue: 250, timeoutMs: env.INGEST_TIMEOUT_MS, now, log, metrics: metrics.ingest });
    closers.push(() => ingest.close());
    // Services enqueue jobs inside their own transactions, as the application role, and read
    // pending ones (rollups). That takes SELECT and INSERT on the job table (pg-boss's send
    // inserts into the queue's partition of it, job_common or one of its own, and returns the
    // id) and SELECT on queue (the insert reads the queue's defaults); nothing else. Taken back
    // on 2026-11-27: UPDATE (the app role could rewrite any creator's job) and INSERT on
    // pg-boss's other tables (it could plant a schedule, a queue, a version). One transaction,
    // one process at a time (a server and a worker starting together would otherwise update the
    // same grants at once: "tuple concurrently updated").
    await owner.db.execute(
      sql.raw(
        `SELECT pg_advisory_xact_lock(hashtext('staryer-usage:pgboss-grants'));
        REVOKE ALL ON ALL TABLES IN SCHEMA ${BOSS_SCHEMA} FROM staryer_app;
        GRANT USAGE ON SCHEMA ${BOSS_SCHEMA} TO staryer_app;
        GRANT SELECT ON ${BOSS_SCHEMA}.queue TO staryer_app;
        GRANT SELECT, INSERT ON ${BOSS_SCHEMA}.job TO staryer_app;
        DO $$
        DECLARE part regclass;
        BEGIN
          FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = '${BOSS_SCHEMA}.job'::regclass LOOP
            EXECUTE format('GRANT SELECT, INSERT ON TABLE %s TO staryer_app', part);
          END LOOP;
        END
        $$`,
      ),
    );

    const rt: Runtime = {
      env,
      db: app.db,
      pipelinedDb: pipelined.db,
      ownerDb: owner.db,
      ping: async () => {
        await app.sql`select 1`;
      },
      poolMax,
      boss,
      log,
      metrics,
      apiKeys: createApiKeyCache(env.API_KEY_CACHE_TTL_MS),
      authLimiter: createAuthRateLimiter({
        perEmail: env.AUTH_RATE_LIMIT_PER_EMAIL,
        perIp: env.AUTH_RATE_LIMIT_PER_IP,
        windowSeconds: env.AUTH_RATE_LIMIT_WINDOW_SECONDS,
      }),
      ingest,
      tokenSecrets: new Map(),
      now,
    };

    // Revocations from other processes evict our cached copy at once. A notice sent while the
    // listening connection was down is lost: each time it listens again (postgres.js reconnects
    // it), the whole cache goes, so that a key revoked meanwhile fails on the next request.
    const listener = await app.sql.listen(
      API_KEY_REVOKED_CHANNEL,
      (secretHash) => rt.apiKeys.evict(secretHash),
      () => rt.apiKeys.clear(),
    );
    closers.push(() => listener.unlisten());

    const usageTimer = setInterval(() => void flushApiKeyUsage(rt), 10_000);
    usageTimer.unref();
    closers.push(async () => {
      clearInterval(usageTimer);
      await flushApiKeyUsage(rt);
    });

    await bootstrapFromEnv(rt);

    if (options.workers) {
      // Jobs talk to SMTP servers, Stripe and webhook endpoints inside their transactions
      // (up to each one's timeout): on a pool of their own, slow ones cannot hold the
      // connections that ingestion and the dashboard need.
      const pool: DbPool = openAppPool({ ownerUrl, appUrl: env.APP_DATABASE_URL, max: WORKER_POOL_MAX, applicationName: 'staryer-usage-worker' });
      workerPool = pool;
      await startWorkers({ ...rt, db: pool.db }, boss);
      // First thing on close: no queue takes another job (running ones are left to boss.stop).
      closers.push(() => stopWorkers(boss));
    }
    return { rt, ownerUrl, appSql: app.sql, close, stopDatabase };
  } catch (error) {
    await close();
    throw error;
  }
}
