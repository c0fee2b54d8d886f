import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { withDatabase } from '../../db/client.js';
import { startEmbeddedPostgres } from '../../db/embedded.js';
import { ensureDatabase, runMigrations } from '../../db/migrate.js';
import { startBoss } from '../../jobs/boss.js';
import postgres from 'postgres';

export const TEMPLATE_DATABASE = 'staryer_test_template';

/**
 * One Postgres for the whole run (embedded in .data/test-pg, or TEST_DATABASE_URL),
 * and a template database migrated once — schema, RLS, pg-boss's schema — that every
 * test file copies (CREATE DATABASE … TEMPLATE is a file copy: ~50 ms).
 */
export default async function setup(project: TestProject) {
  let serverUrl = process.env.TEST_DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let dataDir: string | undefined;
  if (!serverUrl) {
    // A cluster of this run's own: concurrent runs (several terminals, helpers) must not
    // stop each other's Postgres. initdb costs ≈ 0.6 s.
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-test-pg-'));
    await fs.chmod(dataDir, 0o755);
    const pg = await startEmbeddedPostgres({
      dataDir,
      // Durability is not under test here; these make a fresh database per file cheap.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
    });
    serverUrl = pg.url;
    if (pg.owned) stop = pg.stop;
  }
  const templateUrl = withDatabase(serverUrl, TEMPLATE_DATABASE);
  const admin = postgres(withDatabase(serverUrl, 'postgres'), { max: 1, onnotice: () => undefined });
  await admin.unsafe(`drop database if exists ${TEMPLATE_DATABASE} with (force)`);
  await admin.end();
  await ensureDatabase(templateUrl);
  await runMigrations(templateUrl);
  const boss = await startBoss(templateUrl, { schedule: false, onError: () => undefined });
  await boss.stop({ graceful: false });
  project.provide('pgServerUrl', serverUrl);
  return async () => {
    // Databases of failing files are kept (test/harness/db.ts); then the cluster is too.
    const check = postgres(withDatabase(serverUrl, 'postgres'), { max: 1, onnotice: () => undefined });
    const kept = await check<{ datname: string }[]>`select datname from pg_database where left(datname, 2) = 't_'`.catch(() => []);
    await check.end();
    if (stop) await stop();
    if (!dataDir) return;
    if (kept.length > 0) {
      console.error(`\n[test-db] kept the test cluster in ${dataDir} (databases ${kept.map((k) => k.datname).join(', ')}); DATA_DIR=${dataDir} npx staryer-usage … or start it with db/embedded.ts to inspect.\n`);
    } else {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgServerUrl: string;
  }
}
