import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../server/http/app.js';
import { useTestDatabase } from './harness/db.js';
import { startTestRuntime } from './harness/server.js';

/**
 * A static file removed while the server runs (a rebuild or an in-place redeploy replaces
 * public/build under a running `npm start`): its read failed with nothing to hear the error,
 * and the uncaught exception ended the process — every open dashboard went down with it.
 */
const { url } = await useTestDatabase();
const closing: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closing.reverse()) await close();
});

describe('a static file removed after the server started', () => {
  it('a request for it fails alone (404 or a cut response); the server keeps serving', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-public-'));
    closing.push(() => fs.rm(dir, { recursive: true, force: true }));
    await fs.mkdir(path.join(dir, 'build'));
    await fs.writeFile(path.join(dir, 'build', 'gone-ABC123.css'), 'body{}');
    await fs.writeFile(path.join(dir, 'build', 'kept-DEF456.css'), 'p{}');
    const booted = await startTestRuntime(url);
    closing.push(() => booted.close());
    const server = http.createServer(createHttpApp(booted.rt, { publicDir: dir }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closing.push(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await fetch(`${base}/build/gone-ABC123.css`)).status).toBe(200);

    // The build is replaced: the file the server listed at start is gone.
    await fs.rm(path.join(dir, 'build', 'gone-ABC123.css'));
    const gone = await fetch(`${base}/build/gone-ABC123.css`).then(
      async (r) => ({ status: r.status, body: await r.text().catch(() => 'cut') }),
      () => ({ status: 0, body: 'cut' }),
    );
    expect(gone.body).not.toBe('body{}');

    // The server is still there for everything else.
    const kept = await fetch(`${base}/build/kept-DEF456.css`);
    expect(kept.status).toBe(200);
    expect(await kept.text()).toBe('p{}');
    expect((await fetch(`${base}/api/health`)).status).toBe(200);
  });
});
