import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SingleBar, Presets } from 'cli-progress';
import { startWebhookReceiver } from '../test/fakes/webhook-receiver.js';
import { freePort, sleep, spawnDetached, stop, waitForHealth } from './lib.js';

/**
 * Alert latency: from sending the event that crosses a threshold to the signed webhook
 * arriving at a live receiver (issue: p99 within 2 s). The real server with in-process
 * workers (pg-boss woken by LISTEN/NOTIFY), one customer crossing at a time, so each
 * figure is the whole path: commit → alerts.notify → webhooks.deliver → HTTP POST.
 * Baseline in the same run: the track request's own round trip.
 */
const CROSSINGS = Number(process.env.BENCH_ALERTS ?? 60);

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

export async function runAlerts(): Promise<string> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-bench-alerts-'));
  await fs.chmod(dataDir, 0o755);
  const apiKey = `bench_${randomBytes(24).toString('hex')}`;
  const port = await freePort();
  const receiver = await startWebhookReceiver({ rejectBadSignatures: true });
  const server = spawnDetached('node', ['--import', 'tsx', 'server/main.ts'], {
    DATA_DIR: dataDir,
    DATABASE_URL: '',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    ALLOW_PRIVATE_WEBHOOK_URLS: 'true',
    STARYER_BOOTSTRAP_EMAIL: 'bench@example.com',
    STARYER_BOOTSTRAP_PASSWORD: 'bench passphrase',
    STARYER_BOOTSTRAP_API_KEY: apiKey,
  });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method: string, url: string, body?: unknown) => {
    const response = await fetch(base + url, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  try {
    await waitForHealth(`${base}/api/health`, server);
    await call('POST', '/api/usage/meters', {
      event_name: 'api_calls',
      display_name: 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'p', limit_value: 2, soft_limit_threshold: 0.5 }],
    });
    const endpoint = await call('POST', '/api/usage/webhooks', { url: `${receiver.url}/bench`, events: ['usage.soft_limit_reached'] });
    receiver.setSecret(String(endpoint.json.secret));
    const latencies: number[] = [];
    const trackTimes: number[] = [];
    const bar = new SingleBar({ format: 'alerts [{bar}] {value}/{total} crossings', stream: process.stderr }, Presets.shades_classic);
    bar.start(CROSSINGS, 0);
    for (let i = 0; i < CROSSINGS; i++) {
      const user = `crossing-${i}`;
      await call('PUT', `/api/usage/customers/${user}`, { plan_name: 'p' });
      const sent = performance.now();
      const tracked = await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: user });
      trackTimes.push(performance.now() - sent);
      if (tracked.status !== 201) throw new Error(`track answered ${tracked.status}`);
      await receiver.waitFor((received) => received.some((w) => w.body?.data?.user_id === user && w.verified), 10_000);
      latencies.push(performance.now() - sent);
      bar.increment();
      await sleep(50);
    }
    bar.stop();
    const row = (name: string, xs: number[]) =>
      `| ${name} | ${percentile(xs, 50).toFixed(0)} | ${percentile(xs, 99).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${(percentile(xs, 99) / percentile(trackTimes, 99)).toFixed(1)}× |`;
    return [
      `### Alert latency: event crossing a threshold → signed webhook received (${CROSSINGS} crossings, one at a time)`,
      '',
      '| path | p50 ms | p99 ms | max ms | p99 × track p99 |',
      '| --- | --- | --- | --- | --- |',
      row('track request (baseline)', trackTimes),
      row('event sent → webhook received', latencies),
      '',
      `Target: webhook within 2 s at p99 — ${percentile(latencies, 99) < 2000 ? '**met**' : '**not met**'}. Every delivery verified with the standardwebhooks library.`,
    ].join('\n');
  } finally {
    await stop(server);
    await receiver.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
