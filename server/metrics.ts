import client from 'prom-client';

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
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
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
  const queueFailed = new client.Gauge({
    name: 'staryer_job_queue_failed',
    help: 'Failed jobs kept per queue',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  return { registry, httpRequests, httpDuration, dbUp, dbPingSeconds, dbPoolMax, dbConnections, queueDepth, queueFailed };
}
