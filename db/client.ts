import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';

/**
 * Without drizzle's relational query API (`db.query.*`, unused here): given the schema,
 * drizzle builds a query builder for each of its tables on every transaction it opens
 * (0.8 % of the server's CPU under single-event ingestion, in a V8 profile).
 */
export type Db = PostgresJsDatabase & {
  /** The postgres.js pool underneath (e.g. to reserve a connection for a session-level lock). */
  $client: postgres.Sql;
};
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** A database handle or an open transaction: what queries accept. */
export type Queryable = Db | Tx;

export const APP_ROLE = 'staryer_app';

export type DbPool = { sql: postgres.Sql; db: Db };

export type DbOptions = {
  /** The owner's URL: runs migrations, the CLI's cross-tenant admin, pg-boss. */
  ownerUrl: string;
  /** The application's URL (a NOBYPASSRLS role). Without it, the owner's login is
   * used with the session role switched to staryer_app at connection start. */
  appUrl?: string;
  max?: number;
  applicationName?: string;
};

export function toDb(sql: postgres.Sql): Db {
  return drizzle({ client: sql, casing: 'snake_case' });
}

/**
 * The application's transactions are never idle for long (outside calls hold none, ADR 0015):
 * one idle this long lost its client (a half-open connection), and Postgres ends it, releasing
 * the counter locks it held for every other server.
 */
const APP_IDLE_IN_TRANSACTION_MS = 60_000;

export function openPool(url: string, options: { max?: number; role?: string; applicationName?: string; idleInTransactionMs?: number } = {}): DbPool {
  const sql = postgres(url, {
    max: options.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => undefined,
    // Startup parameters: `role` makes every statement on the connection run as that
    // role, so row-level security applies from the first query on.
    connection: {
      application_name: options.applicationName ?? 'staryer-usage',
      ...(options.role ? { role: options.role } : {}),
      ...(options.idleInTransactionMs ? { idle_in_transaction_session_timeout: options.idleInTransactionMs } : {}),
    },
  });
  return { sql, db: toDb(sql) };
}

/** The application's pool: every query is subject to row-level security. */
export function openAppPool(options: DbOptions): DbPool {
  const idleInTransactionMs = APP_IDLE_IN_TRANSACTION_MS;
  if (options.appUrl) return openPool(options.appUrl, { max: options.max, applicationName: options.applicationName, idleInTransactionMs });
  return openPool(options.ownerUrl, { max: options.max, role: APP_ROLE, applicationName: options.applicationName, idleInTransactionMs });
}

/** The application's login cannot serve: it would see every creator's rows, or none of the application's tables. */
export class UnsafeAppRoleError extends Error {}

/**
 * Refuses to serve on application connections that row-level security does not hold to one
 * creator: a superuser or BYPASSRLS login, or the owner's login (or a member of it) — the
 * owner's `owner_all` policy lets it see every row, and on managed Postgres the owner is
 * often neither superuser nor BYPASSRLS (APP_DATABASE_URL set to it, say). Given the owner's
 * connections, also refuses those that could not serve at all — a login that is not a member
 * of staryer_app (no grant on any table) or of another database than the owner's (no tables)
 * — which would otherwise start "ready" and answer every call 500. Run once at start-up.
 */
export async function assertRowLevelSecurityApplies(sql: postgres.Sql, owner?: postgres.Sql): Promise<void> {
  const [role] = await sql<Array<{ name: string; rolsuper: boolean; rolbypassrls: boolean; owner: string | null; member: boolean; database: string; migrated: boolean }>>`
    select current_user as name, rolsuper, rolbypassrls,
      (select r from pg_policies p, unnest(p.roles) r
        where p.schemaname = 'public' and p.policyname = 'owner_all' and pg_has_role(current_user, r, 'MEMBER') limit 1) as owner,
      pg_has_role(current_user, ${APP_ROLE}, 'MEMBER') as member,
      current_database() as database,
      to_regclass('public.creators') is not null as migrated
    from pg_roles where rolname = current_user`;
  if (!role || role.rolsuper || role.rolbypassrls || role.owner) {
    const why = role?.rolsuper ? 'is a superuser' : role?.rolbypassrls ? 'bypasses row-level security' : `is the tables' owner "${role?.owner}" or a member of it (its policy sees every row)`;
    throw new UnsafeAppRoleError(
      `The application's database role "${role?.name ?? '?'}" ${why}: every creator would see every other's data. ` +
        'Set APP_DATABASE_URL to a login without SUPERUSER or BYPASSRLS that is a member of staryer_app and not of the owner (README, "Configuration"), or leave it unset.',
    );
  }
  const expected = owner ? (await owner<Array<{ database: string }>>`select current_database() as database`)[0]?.database : role.database;
  if (role.database !== expected || !role.migrated) {
    throw new UnsafeAppRoleError(
      `APP_DATABASE_URL connects to the database "${role.database}", ` +
        (role.database !== expected ? `not DATABASE_URL's "${expected ?? '?'}"` : "which has none of the application's tables") +
        ': set it to a login of the same database as DATABASE_URL (README, "Configuration"), or leave it unset.',
    );
  }
  if (!role.member) {
    throw new UnsafeAppRoleError(
      `The application's database role "${role.name}" (APP_DATABASE_URL) is not a member of ${APP_ROLE}, which holds every grant on the application's tables: ` +
        `run GRANT ${APP_ROLE} TO "${role.name}" as the owner or a superuser, or leave APP_DATABASE_URL unset.`,
    );
  }
}

/** Replaces the database name of a Postgres URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
