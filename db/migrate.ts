import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { toDb } from './client.js';

export const MIGRATIONS_FOLDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Any constant: the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK = 727_001;

/** How long start-up waits for the database's first answer before saying it cannot reach it. */
export const FIRST_CONNECT_TIMEOUT_MS = 30_000;

/** The database named in DATABASE_URL does not answer (a wrong host, a firewall). */
export class DatabaseUnreachableError extends Error {}

/**
 * The database answers but refuses DATABASE_URL's login (a wrong user or password, no
 * pg_hba entry for it) or has no database of that name: a configuration error (exit 78).
 */
export class DatabaseLoginError extends Error {}

/** The SQLSTATEs of a login refused, with what the operator should check. */
const LOGIN_REFUSED: Record<string, string> = {
  '28P01': 'check the user name and password in DATABASE_URL',
  '28000': "check the user name in DATABASE_URL, and that Postgres's pg_hba.conf lets it connect from here",
  '3D000': 'check the database name in DATABASE_URL, or create that database',
};

/** Connection errors that mean no Postgres is there to answer (a refused port, an unknown host, no route). */
const NOT_THERE = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'];

/** host:port of a Postgres URL, without credentials, for messages. */
export const describeDatabase = (url: string) => {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
};

/**
 * Applies pending migrations as the owner. Safe to call from several processes at once.
 * An unreachable host fails after FIRST_CONNECT_TIMEOUT_MS with a message naming it (the
 * driver itself keeps trying to connect for ever).
 */
export async function runMigrations(ownerUrl: string, options: { connectTimeoutMs?: number } = {}): Promise<void> {
  const sql = postgres(ownerUrl, { max: 1, onnotice: () => undefined, connection: { application_name: 'staryer-migrate' } });
  const timeoutMs = options.connectTimeoutMs ?? FIRST_CONNECT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  let answered = false;
  try {
    await Promise.race([
      sql`select 1`.catch((error: { code?: string; message?: string }) => {
        // Nothing listening, no such host, no route: the operator's DATABASE_URL (or a Postgres not started).
        if (error.code && NOT_THERE.includes(error.code)) {
          throw new DatabaseUnreachableError(`The database at ${describeDatabase(ownerUrl)} could not be reached (${error.code}): is Postgres running there? Check DATABASE_URL's host and port.`);
        }
        const check = error.code ? LOGIN_REFUSED[error.code] : undefined;
        if (!check) throw error;
        throw new DatabaseLoginError(`The database at ${describeDatabase(ownerUrl)} refused DATABASE_URL: ${error.message} (${error.code}); ${check}.`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new DatabaseUnreachableError(`The database at ${describeDatabase(ownerUrl)} did not answer within ${timeoutMs / 1000} s: check DATABASE_URL's host and port, and that Postgres accepts connections from here.`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    answered = true;
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migrate(toDb(sql), { migrationsFolder: MIGRATIONS_FOLDER, migrationsSchema: 'drizzle' });
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`;
  } finally {
    // A connection still being attempted is dropped at once.
    await sql.end({ timeout: answered ? 5 : 0 });
  }
}

/** Creates the database named in the URL if it does not exist (embedded servers and tests). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name || name === 'postgres') return;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => undefined });
  try {
    const [row] = await sql`select 1 as found from pg_database where datname = ${name}`;
    if (!row) {
      await sql.unsafe(`create database "${name.replaceAll('"', '""')}"`).catch((error: { code?: string }) => {
        // Created concurrently by another process: 42P04 once it exists, 23505 when both
        // statements ran at the same moment (two processes starting together on a new DATA_DIR).
        if (error.code !== '42P04' && error.code !== '23505') throw error;
      });
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}
