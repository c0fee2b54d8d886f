import http from 'node:http';
import autocannon from 'autocannon';
import { percentile } from './lib.js';

/**
 * The load generator, in its own process (bench/ingest.ts forks it, one per run) so that
 * it never shares an event loop with the server it measures. It takes one LoadSpec over
 * IPC, drives it with autocannon and answers `{type:'tick'}` messages each second and
 * one `{type:'result'}`.
 *
 * Latencies are kept per request (autocannon's own histogram has 1 ms buckets, too coarse
 * for the check endpoint) and cover every answer, not only 2xx ones.
 */
export type Scenario = 'hello' | 'naive' | 'floor' | 'floor-batch' | 'lean' | 'lean-batch' | 'single' | 'batch' | 'hot' | 'check';

export type LoadSpec = {
  scenario: Scenario;
  /** Origin of the server under test, e.g. http://127.0.0.1:4000 */
  url: string;
  connections: number;
  /** Exactly this many requests, every one of them answered (exact row counts)… */
  amount?: number;
  /** …or for this many seconds (warm-up and calibration: answers in flight at the end are dropped). */
  duration?: number;
  apiKey?: string;
  /** Idempotency keys are `${keyPrefix}-${n}`, n counting requests (single) or events (batch). */
  keyPrefix: string;
  /** user_ids are user_0 … user_{users-1}, in turn. */
  users: number;
  batchSize: number;
  eventName: string;
  hotUser: string;
  /** Requests per second offered, open loop over at most `connections` sockets (check only); unset: as fast as answered. */
  rate?: number;
};

export type LoadResult = {
  requests: number;
  /** From the first request sent to the last answer received. */
  seconds: number;
  requestsPerSecond: number;
  /** Events answered 201: per request for single events, per result for batches. */
  events201: number;
  /** HTTP statuses of the requests. */
  statuses: Record<string, number>;
  /** Statuses of the events inside batch answers. */
  eventStatuses: Record<string, number>;
  errors: number;
  timeouts: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** CPU seconds the load generator used for this run. */
  cpuSeconds: number;
};

type Message = { type: 'tick'; completed: number } | { type: 'result'; result: LoadResult } | { type: 'error'; message: string };

const send = (message: Message) => process.send?.(message);

function requestsFor(spec: LoadSpec, onBatch: (body: string) => void): autocannon.Request[] {
  let n = 0;
  const user = (i: number) => `user_${i % spec.users}`;
  const event = (userId: string, key: string) =>
    `{"event_name":"${spec.eventName}","user_id":"${userId}","value":1,"properties":{"endpoint":"/v1/chat","method":"POST"},"idempotency_key":"${key}"}`;
  switch (spec.scenario) {
    case 'hello':
      return [{ method: 'GET', path: '/' }];
    case 'naive':
    case 'floor':
    case 'lean':
    case 'single':
    case 'hot':
      return [
        {
          method: 'POST',
          path: spec.scenario === 'naive' || spec.scenario === 'floor' || spec.scenario === 'lean' ? '/' : '/api/usage/track',
          setupRequest: (request) => {
            const i = n++;
            request.body = event(spec.scenario === 'hot' ? spec.hotUser : user(i), `${spec.keyPrefix}-${i}`);
            return request;
          },
        },
      ];
    case 'batch':
    case 'floor-batch':
    case 'lean-batch':
      return [
        {
          method: 'POST',
          path: spec.scenario === 'floor-batch' || spec.scenario === 'lean-batch' ? '/' : '/api/usage/track',
          setupRequest: (request) => {
            const parts: string[] = [];
            for (let j = 0; j < spec.batchSize; j++) {
              const i = n++;
              parts.push(event(user(i), `${spec.keyPrefix}-${i}`));
            }
            request.body = `[${parts.join(',')}]`;
            return request;
          },
          onResponse: (_status, body) => onBatch(body),
        },
      ];
    case 'check':
      return [
        {
          method: 'GET',
          setupRequest: (request) => {
            request.path = `/api/usage/check?user_id=${user(n++)}&event_name=${encodeURIComponent(spec.eventName)}`;
            return request;
          },
        },
      ];
  }
}

/**
 * An open-loop run (spec.rate): requests are due at a steady rate, one every 1/rate s,
 * over at most `connections` keep-alive sockets, and each latency counts from when the
 * request was due, not from when a free socket sent it (no coordinated omission). Unlike
 * autocannon's rate limit, which lets each connection send its share of a second at the
 * start of it (bursts of `rate` requests at once), this measures latency at that load.
 */
function runPaced(spec: LoadSpec & { rate: number }, onTick: (completed: number) => void): Promise<LoadResult> {
  const origin = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const headers: Record<string, string> = spec.apiKey ? { authorization: `Bearer ${spec.apiKey}` } : {};
  const total = spec.amount ?? Math.round(spec.rate * (spec.duration ?? 5));
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let n = 0;
  const cpuAtStart = process.cpuUsage();
  const started = performance.now();
  let lastAnswer = started;
  return new Promise((resolve) => {
    const finish = () => {
      clearInterval(scheduler);
      clearInterval(ticker);
      agent.destroy();
      latencies.sort((a, b) => a - b);
      const cpu = process.cpuUsage(cpuAtStart);
      const seconds = (lastAnswer - started) / 1000;
      resolve({
        requests: latencies.length,
        seconds,
        requestsPerSecond: latencies.length / seconds,
        events201: statuses['201'] ?? 0,
        statuses,
        eventStatuses: {},
        errors,
        timeouts: 0,
        p50: percentile(latencies, 50),
        p90: percentile(latencies, 90),
        p99: percentile(latencies, 99),
        max: latencies.at(-1) ?? NaN,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      });
    };
    const send = (due: number) => {
      const path = `/api/usage/check?user_id=user_${n++ % spec.users}&event_name=${encodeURIComponent(spec.eventName)}`;
      const request = http.request({ host: origin.hostname, port: origin.port, path, headers, agent }, (response) => {
        response.resume();
        response.on('end', () => {
          lastAnswer = performance.now();
          latencies.push(lastAnswer - due);
          statuses[response.statusCode ?? 0] = (statuses[response.statusCode ?? 0] ?? 0) + 1;
          if (latencies.length + errors === total) finish();
        });
      });
      request.on('error', () => {
        errors++;
        if (latencies.length + errors === total) finish();
      });
      request.end();
    };
    let issued = 0;
    // Every millisecond, send the requests that have come due since the last turn.
    const scheduler = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * spec.rate));
      for (; issued < due; issued++) send(started + (issued / spec.rate) * 1000);
      if (issued === total) clearInterval(scheduler);
    }, 1);
    const ticker = setInterval(() => onTick(latencies.length), 250);
  });
}

export function runLoad(spec: LoadSpec, onTick: (completed: number) => void = () => undefined): Promise<LoadResult> {
  if (spec.rate) {
    if (spec.scenario !== 'check') throw new Error('a paced run (rate) is built for the check scenario only');
    return runPaced({ ...spec, rate: spec.rate }, onTick);
  }
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const eventStatuses: Record<string, number> = {};
  let batch201 = 0;
  const onBatch = (body: string) => {
    try {
      const parsed = JSON.parse(body) as { results?: Array<{ status: number }> };
      for (const r of parsed.results ?? []) {
        eventStatuses[r.status] = (eventStatuses[r.status] ?? 0) + 1;
        if (r.status === 201) batch201++;
      }
    } catch {
      eventStatuses['unparsable answer'] = (eventStatuses['unparsable answer'] ?? 0) + 1;
    }
  };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (spec.apiKey) headers.authorization = `Bearer ${spec.apiKey}`;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const cpuAtStart = process.cpuUsage();
    let lastAnswer = started;
    const tracker = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        ...(spec.amount ? { amount: spec.amount } : { duration: spec.duration ?? 5 }),
        timeout: 60,
        sampleInt: 100,
        headers,
        requests: requestsFor(spec, onBatch),
      },
      (error, result) => {
        clearInterval(ticker);
        if (error) return reject(error);
        const seconds = (lastAnswer - started) / 1000;
        latencies.sort((a, b) => a - b);
        const cpu = process.cpuUsage(cpuAtStart);
        resolve({
          requests: latencies.length,
          seconds,
          requestsPerSecond: latencies.length / seconds,
          events201: spec.scenario === 'batch' || spec.scenario === 'floor-batch' || spec.scenario === 'lean-batch' ? batch201 : (statuses['201'] ?? 0),
          statuses,
          eventStatuses,
          errors: result.errors,
          timeouts: result.timeouts,
          p50: percentile(latencies, 50),
          p90: percentile(latencies, 90),
          p99: percentile(latencies, 99),
          max: latencies.at(-1) ?? NaN,
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
        });
      },
    );
    tracker.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime);
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      lastAnswer = performance.now();
    });
    const ticker = setInterval(() => onTick(latencies.length), 250);
  });
}

// Forked by bench/ingest.ts: one spec in, ticks and one result out.
if (process.send) {
  process.once('message', (spec: LoadSpec) => {
    runLoad(spec, (completed) => send({ type: 'tick', completed }))
      .then((result) => send({ type: 'result', result }))
      .catch((error: unknown) => send({ type: 'error', message: error instanceof Error ? error.stack ?? error.message : String(error) }))
      .finally(() => process.disconnect());
  });
}
