import http from 'node:http';
import postgres from 'postgres';

/**
 * Baseline for the ingestion benchmark: the floor. The least any server can do that
 * answers an event only once it is durably in this Postgres, built for speed and nothing
 * else — so the product's figures can be read against what this machine allows at all.
 *
 * Per request it parses the JSON body (one event, or an array of them: a batch) and
 * queues its events; every event queued while the previous statement runs goes out in the
 * next one, a single `insert … select from unnest(…)` in autocommit (at most two in flight,
 * as the product's group commit), into a table with nothing but a primary key;
 * `synchronous_commit` is on, as the product's, so an answer means the rows are on disk.
 * No validation, no idempotency, no counters, no limits, no tenancy, no jobs: everything
 * the product does per event beyond this costs more than this.
 *
 * With LEAN=1 it is the floor plus the two guarantees no design of this product can drop,
 * at their cheapest: each idempotency key stored once (a unique index, `on conflict do
 * nothing`) and a usage counter per customer, upserted once per customer per statement, in
 * the same statement (tables bench_lean_events and bench_lean_counters). Still no
 * validation, answers for replays, limits, periods, tenancy or jobs.
 *
 *   PG_URL=postgres://… PORT=… [LEAN=1] node --import tsx bench/floor-server.ts
 * GET / answers 200 (readiness); POST / with an event answers 201, with an array of events
 * 200 and `{"results":[{"status":201},…]}` (the shape of the product's batch answer).
 */
const sql = postgres(process.env.PG_URL!, { max: 2, onnotice: () => undefined });

const LEAN = process.env.LEAN === '1';
const TABLE = LEAN ? 'bench_lean_events' : 'bench_floor_events';
await sql`create table if not exists ${sql(TABLE)} (
  id bigint generated always as identity primary key,
  event_name text not null,
  user_id text not null,
  value numeric not null,
  properties jsonb not null,
  idempotency_key text,
  received_at timestamptz not null default now()
)`;
if (LEAN) {
  await sql`create unique index if not exists bench_lean_events_key on bench_lean_events (idempotency_key)`;
  await sql`create table if not exists bench_lean_counters (user_id text primary key, events bigint not null, total numeric not null)`;
}
const [setting] = await sql<Array<{ synchronous_commit: string }>>`show synchronous_commit`;
if (setting?.synchronous_commit !== 'on') throw new Error(`synchronous_commit is ${setting?.synchronous_commit}, not on`);

type Event = { event_name: string; user_id: string; value?: number; properties?: unknown; idempotency_key?: string };
type Waiting = { events: Event[]; done: (ok: boolean) => void };

const MAX_IN_FLIGHT = 2;
const MAX_ROWS = 5_000;
let queue: Waiting[] = [];
let inFlight = 0;

function pump() {
  while (inFlight < MAX_IN_FLIGHT && queue.length > 0) {
    let rows = 0;
    let take = 0;
    while (take < queue.length && (take === 0 || rows + queue[take]!.events.length <= MAX_ROWS)) rows += queue[take++]!.events.length;
    const group = queue.slice(0, take);
    queue = queue.slice(take);
    const names: string[] = [];
    const users: string[] = [];
    const values: number[] = [];
    const properties: string[] = [];
    const keys: Array<string | null> = [];
    for (const { events } of group) {
      for (const e of events) {
        names.push(e.event_name);
        users.push(e.user_id);
        values.push(e.value ?? 1);
        properties.push(JSON.stringify(e.properties ?? {}));
        keys.push(e.idempotency_key ?? null);
      }
    }
    inFlight++;
    (LEAN
      ? sql`
      with inserted as (
        insert into bench_lean_events (event_name, user_id, value, properties, idempotency_key)
        select n, u, v, p::jsonb, k from unnest(${names}::text[], ${users}::text[], ${values}::numeric[], ${properties}::text[], ${keys}::text[]) as t(n, u, v, p, k)
        on conflict (idempotency_key) do nothing
        returning user_id, value
      )
      insert into bench_lean_counters (user_id, events, total)
      select user_id, count(*), sum(value) from inserted group by user_id order by user_id
      on conflict (user_id) do update set events = bench_lean_counters.events + excluded.events, total = bench_lean_counters.total + excluded.total`
      : sql`
      insert into bench_floor_events (event_name, user_id, value, properties, idempotency_key)
      select n, u, v, p::jsonb, k from unnest(${names}::text[], ${users}::text[], ${values}::numeric[], ${properties}::text[], ${keys}::text[]) as t(n, u, v, p, k)`
    )
      .then(
        () => group.forEach((w) => w.done(true)),
        () => group.forEach((w) => w.done(false)),
      )
      .finally(() => {
        inFlight--;
        pump();
      });
  }
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method !== 'POST') {
    res.end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let body: Event | Event[];
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Event | Event[];
    } catch {
      res.writeHead(400).end();
      return;
    }
    const batch = Array.isArray(body);
    const events: Event[] = Array.isArray(body) ? body : [body];
    queue.push({
      events,
      done: (ok) => {
        if (!ok) {
          res.writeHead(503).end();
          return;
        }
        res.writeHead(batch ? 200 : 201, { 'content-type': 'application/json' });
        res.end(batch ? `{"results":[${events.map(() => '{"status":201}').join(',')}]}` : '{"status":201}');
      },
    });
    pump();
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeIdleConnections();
  void sql.end({ timeout: 5 }).then(() => process.exit(0));
});
