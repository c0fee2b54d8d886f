import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import type { ServerBuild } from '@remix-run/node';
import { boot, type Booted } from '../../server/boot.js';
import { parseEnv, type TEnv } from '../../server/env.js';
import { createHttpApp } from '../../server/http/app.js';
import { createRemixPages } from '../../server/http/remix.js';
import { createLogger, type Logger } from '../../server/logger.js';
import type { Runtime } from '../../server/runtime.js';

export type TestServer = { url: string; rt: Runtime; booted: Booted; close: () => Promise<void> };

export function testEnv(overrides: Record<string, string> = {}): TEnv {
  return parseEnv({ NODE_ENV: 'test', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', DATA_DIR: '.data/test-unused', ...overrides });
}

/** A runtime on the given database, as `npm start` builds it (no workers unless asked). */
export async function startTestRuntime(dbUrl: string, options: { env?: Record<string, string>; workers?: boolean; now?: () => Date; log?: Logger } = {}) {
  const env = testEnv({ DATABASE_URL: dbUrl, ...options.env });
  return boot({ env, workers: options.workers ?? false, log: options.log ?? createLogger(env.LOG_LEVEL), database: { ownerUrl: dbUrl, migrated: true }, now: options.now });
}

/** The real HTTP server on a free port; with `pages`, the built Remix dashboard too. */
export async function startTestServer(
  dbUrl: string,
  options: { env?: Record<string, string>; workers?: boolean; pages?: boolean; now?: () => Date; log?: Logger } = {},
): Promise<TestServer> {
  const booted = await startTestRuntime(dbUrl, options);
  const { rt } = booted;
  let pages;
  if (options.pages) {
    const buildFile = path.resolve('build/index.js');
    if (!existsSync(buildFile)) throw new Error('Run `npm run build` before tests that render pages');
    pages = createRemixPages(rt, (await import(pathToFileURL(buildFile).href)) as ServerBuild);
  }
  const server = http.createServer(createHttpApp(rt, { pages, publicDir: path.resolve('public') }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    rt,
    booted,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await booted.close();
    },
  };
}

/**
 * A test server for the whole file: started before its tests, closed after them. Returns
 * the server as a function, since it exists only once beforeAll has run.
 */
export function useTestServer(dbUrl: string, options: Parameters<typeof startTestServer>[1] = {}): () => TestServer {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer(dbUrl, options);
  });
  afterAll(async () => {
    await server?.close();
  });
  return () => {
    if (!server) throw new Error('the test server is not started yet (use it inside a test)');
    return server;
  };
}

/** A test server for the whole file whose clock the test moves (`setNow`): periods, grace and late events. */
export function useClockedServer(dbUrl: string, start: Date, options: Parameters<typeof startTestServer>[1] = {}) {
  let now = start;
  const server = useTestServer(dbUrl, { ...options, now: () => now });
  return {
    server,
    setNow: (at: Date) => {
      now = at;
    },
  };
}
