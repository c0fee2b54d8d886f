import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../harness/db.js';
import { useTrackerServer } from './tracker-server.js';

/**
 * The ESM and CommonJS builds loaded in one process (an ESM app with a CommonJS dependency
 * that uses the SDK — the README: "ESM and CommonJS loaded together share one tracker"),
 * each with a tracker of its own: the process-exit and signal hooks are the process's, not
 * each copy's.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const DIST = path.join(ROOT, 'sdk/dist');
const { url } = await useTestDatabase();
const { server, setup, storedRows } = useTrackerServer(url);

beforeAll(async () => {
  // npm test builds the SDK first (sdk:build); a lone run of this file builds it here.
  if (!existsSync(path.join(DIST, 'index.cjs'))) await promisify(execFile)('npm', ['run', 'build'], { cwd: path.join(ROOT, 'sdk'), timeout: 180_000 });
}, 200_000);

describe('ESM and CommonJS builds in one process', () => {
  it('SIGTERM with events queued in a tracker of each build and no handler of the app: both are delivered, then the process ends by the signal', async () => {
    const { apiKey, creatorId } = await setup();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdk-dual-'));
    const script = path.join(dir, 'dual.mjs');
    writeFileSync(
      script,
      `import { createRequire } from 'node:module';
import { UsageTracker as EsmTracker } from ${JSON.stringify(path.join(DIST, 'index.js'))};
const { UsageTracker: CjsTracker } = createRequire(import.meta.url)(${JSON.stringify(path.join(DIST, 'index.cjs'))});
const options = { creatorId: ${JSON.stringify(creatorId)}, baseURL: ${JSON.stringify(server().url)}, apiKey: ${JSON.stringify(apiKey)}, flushInterval: 5000 };
new EsmTracker(options).track({ userId: 'u', eventName: 'calls', properties: { build: 'esm' } });
new CjsTracker(options).track({ userId: 'u', eventName: 'calls', properties: { build: 'cjs' } });
setInterval(() => undefined, 1000); // a server, alive
setTimeout(() => process.kill(process.pid, 'SIGTERM'), 100);
`,
    );
    try {
      const run = await promisify(execFile)(process.execPath, [script], { cwd: ROOT, encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' }).then(
        () => ({ signal: null as string | null }),
        (e: { signal?: string | null }) => ({ signal: e.signal ?? null }),
      );
      // Before: each build's handler took the other's for the app's own and left the exit to
      // it, so the process never ended (killed here by the test's timeout: SIGKILL).
      expect(run.signal).toBe('SIGTERM');
      expect(await storedRows(creatorId)).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
