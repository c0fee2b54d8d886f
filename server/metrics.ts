import client from 'prom-client';

/** Seconds: from half a millisecond (a check) to five seconds (a large batch under load). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** One registry per process (tests build several runtimes, each with its own). */
export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'staryer_' });
  const httpRequests = new client.Counter({
    name: 'staryer_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new client.Histogram({
    name: 'staryer_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const dbUp = new client.Gauge({ name: 'staryer_db_up', help: '1 when the database answered the last probe', registers: [registry] });
  const dbPingSeconds = new client.Gauge({ name: 'staryer_db_ping_seconds', help: 'Latency of the last database probe', registers: [registry] });
  const dbPoolMax = new client.Gauge({ name: 'staryer_db_pool_max_connections', help: 'Configured size of the application pool', registers: [registry] });
  const dbConnections = new client.Gauge({
    name: 'staryer_db_connections',
    help: 'Open connections of this service by state (pg_stat_activity)',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const queueDepth = new client.Gauge({
    name: 'staryer_job_queue_depth',
    help: 'Jobs waiting per queue',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  const queueOldestReady = new client.Gauge({
    name: 'staryer_job_oldest_ready_seconds',
    help: 'Per queue, age of the oldest job that could run now (0: none): how far its workers are behind (rollups.apply: how stale charts are)',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  const queueFailed = new client.Gauge({
    name: 'staryer_job_queue_failed',
    help: 'Failed jobs kept per queue',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  const ingest = {
    commitSeconds: new client.Histogram({
      name: 'staryer_ingest_commit_seconds',
      help: 'Group commits of tracked events: time from the transaction’s first statement to its COMMIT answered',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    queueWaitSeconds: new client.Histogram({
      name: 'staryer_ingest_queue_wait_seconds',
      help: 'Time the oldest request of each group commit waited for a transaction to take it',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    groupEvents: new client.Histogram({
      name: 'staryer_ingest_group_events',
      help: 'Events per committed group, each judged in its transaction (accepted, replayed, or refused there: unknown meter, quota, closed period)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000],
      registers: [registry],
    }),
    events: new client.Counter({
      name: 'staryer_ingest_events_total',
      help: 'Tracked events by outcome: accepted; replayed (an idempotency key answered before); or the code of the problem that refused them (quota_exceeded, unknown_meter, validation_failed, idempotency_key_reused, period_closed, forbidden, database_unavailable, …)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    transactions: new client.Counter({
      name: 'staryer_ingest_transactions_total',
      help: 'Group commit transactions by result: committed; retried (a deadlock, a serialization failure or an idempotency key committed concurrently: tried again whole); split (failed: its requests committed one by one); failed (its requests answered 503); deferred (a committed group that left out a creator whose configuration was being changed: its requests commit apart, once the change is done); memory_missed (a group judged from the configuration and counters kept in memory whose assumptions no longer held when written: nothing recorded, committed the usual way)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    fromMemory: new client.Counter({
      name: 'staryer_ingest_from_memory_total',
      help: 'Committed group commit transactions judged from the configuration and counters kept in memory (one round trip; also counted as committed in staryer_ingest_transactions_total)',
      registers: [registry],
    }),
  };
  return { registry, httpRequests, httpDuration, dbUp, dbPingSeconds, dbPoolMax, dbConnections, queueDepth, queueOldestReady, queueFailed, ingest };
}
