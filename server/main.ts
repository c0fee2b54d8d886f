import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ServerBuild } from '@remix-run/node';
import { boot } from './boot.js';
import { env as readEnv, EnvError } from './env.js';
import { createHttpApp } from './http/app.js';
import { createRemixPages } from './http/remix.js';
import { createLogger } from './logger.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `npm start`: database (embedded unless DATABASE_URL), migrations, workers, HTTP. */
async function main() {
  let env;
  try {
    env = readEnv();
  } catch (error) {
    if (error instanceof EnvError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const log = createLogger(env.LOG_LEVEL);
  const started = Date.now();
  const booted = await boot({ env, workers: env.RUN_WORKERS, log });
  const { rt } = booted;

  const buildFile = path.join(ROOT, 'build', 'index.js');
  if (!existsSync(buildFile)) throw new Error('The dashboard is not built: run `npm run build` (npm start does it for you).');
  const build = (await import(pathToFileURL(buildFile).href)) as ServerBuild;
  const server = http.createServer(
    { keepAliveTimeout: 65_000, requestTimeout: 30_000 },
    createHttpApp(rt, { pages: createRemixPages(rt, build), publicDir: path.join(ROOT, 'public') }),
  );
  await new Promise<void>((resolve) => server.listen(env.PORT, env.HOST, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const base = `http://${env.HOST === '0.0.0.0' ? 'localhost' : env.HOST}:${port}`;
  log.info({ port, ms: Date.now() - started }, `Staryer Usage is ready: dashboard ${base}/creator/dashboard/usage · API ${base}/api · docs ${base}/api/docs`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await booted.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
