import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../harness/db.js';
import { api, createCreatorWithKey } from '../harness/fixtures.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { SEED_EXAMPLES, SEED_FILE, SEED_FEATURE_USAGE, SEED_API_RATE_LIMITING, SEED_INITIALIZE, SEED_METERS, SEED_PLACEHOLDERS, SEED_REACT_HOOK, SEED_STORAGE_USAGE, SEED_TRACK_EVENTS } from './seed-examples.js';

/**
 * `npm pack` of sdk/, installed into a project of its own as a creator would install it,
 * then the seed's examples run from it verbatim against a started server; the package's
 * exports are checked for ESM, CommonJS and TypeScript (NodeNext) consumers.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const SDK = path.join(ROOT, 'sdk');
const { url } = await useTestDatabase();
let server: TestServer;
let project: string;
// Asynchronous: the server under test answers from this very process.
const run = async (file: string, args: string[], options: { cwd: string; env?: Record<string, string> }) =>
  (await promisify(execFile)(file, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, encoding: 'utf8', timeout: 180_000 })).stdout;

beforeAll(async () => {
  server = await startTestServer(url);
  // npm test builds the SDK first (sdk:build); a lone run of this file builds it here.
  if (!existsSync(path.join(SDK, 'dist/index.js'))) await run('npm', ['run', 'build'], { cwd: SDK });
  project = mkdtempSync(path.join(os.tmpdir(), 'staryer-sdk-consumer-'));
  const tarball = (await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', project], { cwd: SDK })).trim().split('\n').pop()!;
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // Offline: the package has no dependencies of its own; its peers come from this repository.
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--legacy-peer-deps', path.join(project, tarball)], { cwd: project });
  for (const peer of ['@trpc/client', '@trpc/server', 'react', 'react-dom', '@types/react']) {
    const target = path.join(project, 'node_modules', peer);
    mkdirSync(path.dirname(target), { recursive: true });
    if (!existsSync(target)) symlinkSync(path.join(ROOT, 'node_modules', peer), target, 'dir');
  }
}, 240_000);

afterAll(async () => {
  await server?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the build only: ESM, CJS, types, no server code', () => {
    const installed = path.join(project, 'node_modules/@staryer/usage-sdk');
    const files = readdirSync(path.join(installed, 'dist'));
    for (const file of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'react.js', 'react.cjs', 'react.d.ts', 'react.d.cts']) expect(files).toContain(file);
    expect(readdirSync(installed).sort()).toEqual(['README.md', 'dist', 'package.json']);
    const code = files.filter((f) => /\.(c?js|d\.c?ts)$/.test(f)).map((f) => readFileSync(path.join(installed, 'dist', f), 'utf8')).join('\n');
    expect(code).not.toMatch(/from ['"][^'"]*(server|db|jobs)\//);
    expect(code).not.toMatch(/drizzle|pg-boss|postgres/);
  });

  it('the seed’s examples, verbatim, record their events (unawaited ones too, before the process ends)', async () => {
    // Given a creator with the seed's meters and a key in STARYER_API_KEY
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    for (const meter of SEED_METERS) {
      const unit = meter.aggregation_type === 'duration' ? 'seconds' : 'units';
      expect((await call('POST', '/api/usage/meters', { display_name: meter.event_name, unit_name: unit, ...meter })).status).toBe(201);
    }
    // When the examples run as one program, only the two placeholders replaced
    const init = SEED_INITIALIZE.replace(SEED_PLACEHOLDERS.creatorId, JSON.stringify(creator.id)).replace(SEED_PLACEHOLDERS.baseURL, JSON.stringify(server.url));
    const program = [init, SEED_TRACK_EVENTS, SEED_API_RATE_LIMITING, SEED_STORAGE_USAGE, SEED_FEATURE_USAGE].join('\n\n');
    writeFileSync(path.join(project, 'seed.mjs'), program);
    await run(process.execPath, ['seed.mjs'], { cwd: project, env: { STARYER_API_KEY: apiKey } });

    // Then every event is recorded once, with its value and properties
    const rows = await server.rt.ownerDb.execute<{ event_name: string; value: string; properties: Record<string, unknown> }>(
      sql`select m.event_name, e.value::text as value, e.properties from usage_events e join usage_meters m on m.creator_id = e.creator_id and m.meter_id = e.meter_id where e.creator_id = ${creator.id} order by e.occurred_at, e.received_at`,
    );
    const seen = rows.map((r) => [r.event_name, Number(r.value), r.properties]);
    expect(seen).toHaveLength(5);
    expect(seen).toEqual(
      expect.arrayContaining([
        ['api_calls', 1, {}],
        ['messages_sent', 1, { type: 'text', channel: 'general' }],
        ['api_calls', 1, { endpoint: '/api/users' }],
        ['storage_used', 1048576, { file_type: 'image' }],
        ['feature_usage', 300, { feature: 'advanced_editor' }],
      ]),
    );
    const usage = await call('GET', '/api/usage/customers/user-123/usage');
    expect(Object.fromEntries((usage.json.meters as Array<{ event_name: string; used: string }>).map((m) => [m.event_name, m.used]))).toEqual({
      api_calls: '2',
      messages_sent: '1',
      storage_used: '1048576',
      feature_usage: '300',
    });
  });

  it('the seed’s React example, verbatim, builds from the package and renders (server side, no provider needed)', async () => {
    writeFileSync(
      path.join(project, 'seed-react.jsx'),
      `${SEED_REACT_HOOK}\n\nimport { renderToString } from 'react-dom/server';\nconsole.log(renderToString(<MyComponent />));\n`,
    );
    const { build } = await import('esbuild');
    await build({ entryPoints: [path.join(project, 'seed-react.jsx')], bundle: true, platform: 'node', format: 'esm', jsx: 'automatic', outfile: path.join(project, 'seed-react.mjs'), packages: 'external', logLevel: 'error' });
    expect((await run(process.execPath, ['seed-react.mjs'], { cwd: project })).trim()).toBe('<button>Fetch Data</button>');
  });

  it('CommonJS require works, sharing one default tracker and instanceof-compatible errors with the ESM build', async () => {
    writeFileSync(
      path.join(project, 'cjs.cjs'),
      `const sdk = require('@staryer/usage-sdk');
const react = require('@staryer/usage-sdk/react');
const tracker = sdk.initUsageTracking({ creatorId: 'c', baseURL: 'http://127.0.0.1:1', apiKey: 'k' });
import('@staryer/usage-sdk').then((esm) => {
  const quota = new sdk.QuotaExceededError({ type: 'x/quota-exceeded', title: 'Q', status: 402, detail: 'd' });
  const crossed = [quota instanceof esm.QuotaExceededError, quota instanceof esm.UsageError, new esm.UsageError('d', { code: 'network' }) instanceof sdk.QuotaExceededError];
  console.log(JSON.stringify([typeof sdk.trackUsage, typeof sdk.createUsageClient, typeof react.UsageBar, sdk.QuotaExceededError.name, esm.getUsageTracker() === tracker, ...crossed]));
  return tracker.shutdown({ timeoutMs: 10 });
});`,
    );
    // An error made by one build is an instance of the other's classes (the tracker is shared).
    expect(JSON.parse(await run(process.execPath, ['cjs.cjs'], { cwd: project }))).toEqual(['function', 'function', 'function', 'QuotaExceededError', true, true, true, false]);
  });

  it('TypeScript (NodeNext, strict) sees the full types through the exports map', async () => {
    writeFileSync(
      path.join(project, 'consumer.ts'),
      `import { createUsageClient, initUsageTracking, trackUsage, QuotaExceededError, type TrackedEvent } from '@staryer/usage-sdk';
import { UsageBar, useUsage } from '@staryer/usage-sdk/react';

initUsageTracking({ creatorId: 'c', baseURL: 'https://usage.example.com', getToken: async () => ({ token: 't', expires_at: '2030-01-01T00:00:00Z' }) });
const client = createUsageClient({ baseURL: 'https://usage.example.com', apiKey: 'k' });
export async function main(): Promise<string> {
  const meter = await client.meters.create.mutate({ event_name: 'api_calls', display_name: 'API Calls', unit_name: 'calls', aggregation_type: 'count' });
  const limit: string | null | undefined = meter.plan_limits[0]?.limit_value;
  // @ts-expect-error aggregation types are a closed set
  await client.meters.create.mutate({ event_name: 'x', display_name: 'X', unit_name: 'u', aggregation_type: 'median' });
  // @ts-expect-error there is no such procedure
  client.meters.destroy;
  const check = await client.checkUsage({ userId: 'u', eventName: 'api_calls' });
  const tracked: TrackedEvent = await trackUsage({ userId: 'u', eventName: 'api_calls', properties: { endpoint: '/x' } });
  try { await trackUsage({ userId: 'u', eventName: 'api_calls' }); } catch (e) { if (e instanceof QuotaExceededError) return e.remaining ?? 'unlimited'; }
  return [limit, check.remaining, tracked.usage.used, typeof UsageBar, typeof useUsage].join();
}
`,
    );
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, lib: ['ES2022', 'DOM'], types: [] }, files: ['consumer.ts'] }),
    );
    await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: project });
  });
});

describe('the seed', () => {
  it.runIf(existsSync(path.resolve(ROOT, SEED_FILE)))('still holds each example verbatim', () => {
    const seed = readFileSync(path.resolve(ROOT, SEED_FILE), 'utf8');
    for (const [name, example] of Object.entries(SEED_EXAMPLES)) expect(seed.includes(example), name).toBe(true);
  });
});
