import type { PgBoss } from 'pg-boss';
import type { Db } from '../db/client.js';
import type { TEnv } from './env.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { ApiKeyCache } from './services/api-key-cache.js';
import type { GroupCommitter } from './services/group-commit.js';
import type { AuthRateLimiter } from './services/rate-limit.js';

/**
 * What services need from the running process, built once at start (server/boot.ts)
 * and handed down explicitly, so tests can build their own against a test database.
 */
export type Runtime = {
  env: TEnv;
  /** Subject to row-level security: every tenant query goes through withCreator. */
  db: Db;
  /**
   * Two connections for statements that run alone, in their own implicit transaction
   * (check): concurrent ones queue on a busy connection, so postgres.js sends many in one
   * socket write and Postgres answers them in one wake-up (check: 1.14–1.17× at 64
   * connections, BENCHMARKS.md round 5). Never for BEGIN … COMMIT: a transaction would
   * hold up every statement queued behind it.
   */
  pipelinedDb: Db;
  /** The owner: migrations, CLI administration across creators. Never used by request handlers. */
  ownerDb: Db;
  /** Runs a trivial query on the application pool (health checks). */
  ping: () => Promise<void>;
  poolMax: number;
  boss: PgBoss;
  log: Logger;
  metrics: Metrics;
  apiKeys: ApiKeyCache;
  authLimiter: AuthRateLimiter;
  /** Commits tracked events in shared transactions (group commit). */
  ingest: GroupCommitter;
  /** Per-creator secrets of browser tokens, cached after first use. */
  tokenSecrets: Map<string, Uint8Array>;
  now: () => Date;
};
