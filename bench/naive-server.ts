import http from 'node:http';
import postgres from 'postgres';

/**
 * Baseline for the ingestion benchmark: the naive way to record usage durably. Per
 * request, one transaction on the same embedded Postgres inserts one row into a plain
 * table and commits (synchronous_commit on, as the product's commits: the answer means
 * the row is on disk); no group commit, no counters, no idempotency table.
 *
 *   PG_URL=postgres://… PORT=… node --import tsx bench/naive-server.ts
 * GET / answers 200 (readiness); POST / with an event's JSON answers 201.
 */
const sql = postgres(process.env.PG_URL!, { max: Number(process.env.POOL_MAX ?? 10), onnotice: () => undefined });

await sql`create table if not exists bench_naive_events (
  id bigint generated always as identity primary key,
  event_name text not null,
  user_id text not null,
  value numeric not null,
  properties jsonb not null default '{}',
  idempotency_key text,
  received_at timestamptz not null default now()
)`;
const [setting] = await sql<Array<{ synchronous_commit: string }>>`show synchronous_commit`;
if (setting?.synchronous_commit !== 'on') throw new Error(`synchronous_commit is ${setting?.synchronous_commit}, not on`);

type Event = { event_name: string; user_id: string; value?: number; properties?: postgres.JSONValue; idempotency_key?: string };

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method !== 'POST') {
    res.end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let event: Event;
    try {
      event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Event;
    } catch {
      res.writeHead(400).end();
      return;
    }
    sql
      .begin(async (tx) => {
        const [row] = await tx<Array<{ id: string }>>`
          insert into bench_naive_events (event_name, user_id, value, properties, idempotency_key)
          values (${event.event_name}, ${event.user_id}, ${event.value ?? 1}, ${tx.json(event.properties ?? {})}, ${event.idempotency_key ?? null})
          returning id`;
        return row!.id;
      })
      .then((id) => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: String(id) }));
      })
      .catch(() => {
        res.writeHead(503).end();
      });
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeIdleConnections();
  void sql.end({ timeout: 5 }).then(() => process.exit(0));
});
