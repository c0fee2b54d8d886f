import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeEach, inject, onTestFailed } from 'vitest';
import { withDatabase } from '../../db/client.js';

const TEMPLATE = 'staryer_test_template';

/**
 * A fresh database for this test file, copied from the migrated template. Dropped when
 * every test of the file passed; kept, with its name printed, when one failed.
 */
export async function useTestDatabase(): Promise<{ url: string; name: string }> {
  const serverUrl = inject('pgServerUrl');
  const name = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(withDatabase(serverUrl, 'postgres'), { max: 1, onnotice: () => undefined });
  // A template cannot be copied while someone is connected to it; retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.unsafe(`create database ${name} template ${TEMPLATE}`);
      break;
    } catch (error) {
      if (attempt > 50 || (error as { code?: string }).code !== '55006') throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await admin.end();
  let failed = false;
  beforeEach(() => {
    onTestFailed(() => {
      failed = true;
    });
  });
  afterAll(async () => {
    if (failed) {
      console.error(`\n[test-db] kept database "${name}" of a failing test file: ${withDatabase(serverUrl, name)}\n`);
      return;
    }
    const sql = postgres(withDatabase(serverUrl, 'postgres'), { max: 1, onnotice: () => undefined });
    await sql.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined);
    await sql.end();
  });
  return { url: withDatabase(serverUrl, name), name };
}
