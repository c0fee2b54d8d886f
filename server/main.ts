import { existsSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ServerBuild } from '@remix-run/node';
import { UnsafeAppRoleError } from '../db/client.js';
import { DataDirError, EmbeddedStartError, MissingCredentialsError } from '../db/embedded.js';
import { DatabaseLoginError, DatabaseUnreachableError } from '../db/migrate.js';
import { boot, orderlyStop, type Booted } from './boot.js';
import { env as readEnv, EnvError } from './env.js';
import { createHttpApp } from './http/app.js';
import { answerClientError } from './http/problem.js';
import { createRemixPages } from './http/remix.js';
import { createLogger } from './logger.js';
import { isBootstrapConflict } from './services/bootstrap.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** How long a stop waits for requests still arriving before it cuts them off (see the stop below). */
const UPLOAD_CUT_OFF_MS = 5_000;

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

  let server: http.Server | null = null;
  /** Every open connection (per connection, not per request: nothing added to the hot path). */
  const connections = new Set<Socket>();
  /**
   * Stops taking requests, lets those in flight finish (keep-alive connections are closed
   * after their next answer instead of carrying more), then stops the workers, the pools
   * and the Postgres this process started. A request still arriving UPLOAD_CUT_OFF_MS into
   * the stop (a body or headers sent slowly, or never finished) is cut off: nothing of it has
   * been read, let alone recorded, and the client sends it again elsewhere; it used to hold
   * the stop for the whole grace and make it exit 1.
   */
  const lifecycle = orderlyStop(log, async () => {
    if (!server) return;
    const closing = server;
    const idle = setInterval(() => closing.closeIdleConnections(), 100);
    const cutOff = setTimeout(() => {
      let cut = 0;
      for (const socket of connections) {
        // The answer under way on it, and its request: read whole, it is left to finish.
        const answering = (socket as Socket & { _httpMessage?: { req?: http.IncomingMessage } | null })._httpMessage;
        if (answering?.req?.complete) continue;
        socket.destroy();
        cut++;
      }
      if (cut > 0) log.warn({ connections: cut, ms: UPLOAD_CUT_OFF_MS }, 'stopping: cut off requests still arriving');
    }, UPLOAD_CUT_OFF_MS);
    await new Promise<void>((resolve) => {
      closing.close(() => resolve());
      closing.closeIdleConnections();
    });
    clearTimeout(cutOff);
    clearInterval(idle);
  });

  let booted: Booted;
  try {
    booted = await boot({ env, workers: env.RUN_WORKERS, log });
  } catch (error) {
    // Configuration errors (EX_CONFIG): the sentence that says which variable to change, no stack.
    if (error instanceof UnsafeAppRoleError || error instanceof MissingCredentialsError || error instanceof DataDirError || error instanceof DatabaseLoginError || isBootstrapConflict(error)) {
      console.error(error.message);
      process.exit(78);
    }
    if (error instanceof DatabaseUnreachableError || error instanceof EmbeddedStartError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  // A stop asked for while starting happens here (and the process exits).
  await lifecycle.started(booted);
  const { rt } = booted;

  const buildFile = path.join(ROOT, 'build', 'index.js');
  if (!existsSync(buildFile)) {
    await booted.close();
    throw new Error('The dashboard is not built: run `npm run build` (npm start does it for you).');
  }
  const build = (await import(pathToFileURL(buildFile).href)) as ServerBuild;
  const app = createHttpApp(rt, { pages: createRemixPages(rt, build), publicDir: path.join(ROOT, 'public') });
  server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 30_000 }, (req, res) => {
    // While stopping, each connection closes after its answer rather than carrying more.
    if (lifecycle.stopping) res.setHeader('connection', 'close');
    void app(req, res);
  });
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  // A client that sends requests and never reads the answers held them, and the connection, for
  // ever. A socket on which nothing moved for 30 s is closed (Node waits once more when a write
  // was under way: at most 60 s, within keepAliveTimeout) — unless a handler is still working on
  // its answer with nothing yet to write (a track waits up to INGEST_TIMEOUT_MS for its commit).
  // Idle keep-alive sockets still close after keepAliveTimeout, here too.
  server.timeout = 30_000;
  server.on('timeout', (socket: Socket) => {
    const answering = (socket as Socket & { _httpMessage?: unknown })._httpMessage;
    if (answering && socket.writableLength === 0) return;
    socket.destroy();
  });
  // What Node's parser refuses (431, 400, 408) is answered as problem JSON, not a bare status line.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const status = answerClientError(error, socket);
    if (status > 0) log.info({ status, code: error.code }, 'request refused by the HTTP parser');
  });
  const listening = server;
  try {
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(env.PORT, env.HOST, () => {
        listening.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE'
        ? `port ${env.PORT} on ${env.HOST} is in use: set PORT to a free one`
        : code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL'
          ? `HOST ${env.HOST} is not an address of this machine`
          : code === 'EACCES'
            ? `port ${env.PORT} needs privileges: set PORT above 1023`
            : (error as Error).message;
    log.error({ err: error }, `cannot listen: ${reason}`);
    server = null;
    await lifecycle.stop('listen failed', 1);
    return;
  }
  const address = listening.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const base = `http://${env.HOST === '0.0.0.0' ? 'localhost' : env.HOST}:${port}`;
  log.info({ port, ms: Date.now() - started }, `Staryer Usage is ready: dashboard ${base}/creator/dashboard/usage · API ${base}/api · docs ${base}/api/docs`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
