import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/*
 * HTTP-layer review: what a client observes over a raw socket or fetch, against the test
 * server (createHttpApp) and, for what only server/main.ts configures (timeouts, the
 * parser's own refusals), against `node server/main.ts` itself on this file's database.
 */

const { url } = await useTestDatabase();
let server: TestServer;
let apiKey: string;
beforeAll(async () => {
  server = await startTestServer(url, { pages: true });
  ({ apiKey } = await createCreatorWithKey(server.rt));
});
afterAll(() => server?.close());

type RawAnswer = { status: number; headers: Record<string, string>; body: string; raw: string };

/** Writes `text` on a fresh socket and reads until the server closes it (or `waitMs`). */
function rawExchange(port: number, text: string | Buffer, waitMs = 5_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), raw });
    };
    socket.on('data', (d) => (raw += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', finish);
    socket.write(text);
    setTimeout(finish, waitMs);
  });
}

const portOf = (base: string) => Number(new URL(base).port);

describe('request targets and methods (createHttpApp)', () => {
  it('a request target that is no URL (GET //[) → 400 problem JSON, not a 500 logged as our failure', async () => {
    const answer = await rawExchange(portOf(server.url), 'GET //[ HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(answer.status, answer.raw).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
  });

  it('HEAD on a GET route answers like GET without a body (RFC 9110 §9.3.2), not 405', async () => {
    const meters = await fetch(`${server.url}/api/usage/meters`, { method: 'HEAD', headers: { authorization: `Bearer ${apiKey}` } });
    expect(meters.status).toBe(200);
    expect(meters.headers.get('content-type')).toContain('application/json');
    expect(await meters.text()).toBe('');
    const me = await fetch(`${server.url}/api/usage/me`, { method: 'HEAD', headers: { authorization: `Bearer ${apiKey}` } });
    expect(me.status).toBe(200);
  });

  it('the operational endpoints refuse methods they do not take: 405 with Allow, not a 200', async () => {
    for (const [method, path] of [
      ['DELETE', '/api/health'],
      ['POST', '/api/openapi.json'],
      ['PUT', '/api/docs'],
    ] as const) {
      const response = await fetch(server.url + path, { method });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get('allow'), `${method} ${path}`).toMatch(/GET/);
      expect(response.headers.get('content-type'), `${method} ${path}`).toBe('application/problem+json');
    }
  });

  it('bad percent-encoding in a path parameter → 400 naming the encoding, not 404 "There is nothing at this path"', async () => {
    const answer = await fetch(`${server.url}/api/usage/meters/%zz`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(answer.status).toBe(400);
    const customer = await fetch(`${server.url}/api/usage/customers/%E0%A4%A/usage`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(customer.status).toBe(400);
  });
});

describe('request encodings', () => {
  it('a percent-encoded byte that is not UTF-8 in the query (user_id=%FF) is refused, not read as user "\\uFFFD" (the body refuses such bytes)', async () => {
    const call = api(server.url, apiKey);
    await createMeter(call, { event_name: 'q_calls', display_name: 'Q', unit_name: 'calls', aggregation_type: 'count' });
    const tracked = await call('POST', '/api/usage/track', { event_name: 'q_calls', user_id: '\uFFFD', value: 1 });
    expect(tracked.status, tracked.text).toBe(201);
    const check = await call('GET', '/api/usage/check?user_id=%FF&event_name=q_calls');
    // Today: 200, the usage of the customer "\uFFFD" (another user_id than the one sent).
    expect(check.status, check.text).toBeGreaterThanOrEqual(400);
    expect(check.status, check.text).toBeLessThan(500);
  });

  it('Content-Encoding: gzip on a JSON body is decoded or refused as 415 naming the coding, not answered "not valid UTF-8"', async () => {
    const body = gzipSync(Buffer.from(JSON.stringify({ name: 'gzipped' })));
    const response = await fetch(`${server.url}/api/usage/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body,
    });
    const text = await response.text();
    expect([201, 415], text).toContain(response.status);
    // A plain body labelled gzip is not taken as if the label were absent.
    const mislabelled = await fetch(`${server.url}/api/usage/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'content-encoding': 'br' },
      body: JSON.stringify({ name: 'not-brotli' }),
    });
    expect(mislabelled.status, await mislabelled.text()).not.toBe(201);
  });

  it('a dashboard (session) tRPC error carries one Content-Type, not "application/json, application/json"', async () => {
    const response = await fetch(`${server.url}/api/trpc/meters.list`, { headers: { cookie: 'staryer_session=not-a-session' } });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
  });
});

// ---------------------------------------------------------------------------------------
// `node server/main.ts` itself: what only its http.createServer configures.

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });

async function startMain() {
  const port = await freePort();
  const child = spawn('node', ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, LOG_LEVEL: 'info', NODE_ENV: 'production', RUN_WORKERS: 'false', HOST: '127.0.0.1', DATABASE_URL: url, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  for (let i = 0; i < 600 && child.exitCode === null && !output.includes('is ready'); i++) await new Promise((r) => setTimeout(r, 100));
  expect(output, output).toContain('is ready');
  return { child, port, output: () => output };
}

describe('node server/main.ts', () => {
  let main: Awaited<ReturnType<typeof startMain>>;
  beforeAll(async () => {
    main = await startMain();
  }, 60_000);
  afterAll(() => {
    main?.child.kill('SIGKILL');
  });

  it('a header block past the limit → 431 as problem JSON (every error is RFC 9457), not a bare status line', async () => {
    const answer = await rawExchange(main.port, `GET /api/health HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(answer.status, answer.raw).toBe(431);
    expect(answer.headers['content-type'], answer.raw).toBe('application/problem+json');
  });

  it('Transfer-Encoding and Content-Length together → 400 as problem JSON, not a bare status line', async () => {
    const answer = await rawExchange(
      main.port,
      'POST /api/usage/track HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(answer.status, answer.raw).toBe(400);
    expect(answer.headers['content-type'], answer.raw).toBe('application/problem+json');
  });

  it('a client that never reads its answers does not keep the connection and the answers buffered for it beyond the server’s own idle limit (keepAliveTimeout 65 s)', async () => {
    // One answer's size, read normally.
    const one = Buffer.byteLength(await (await fetch(`http://127.0.0.1:${main.port}/api/openapi.json`)).text());
    const pipelined = 150; // ~20 MB of answers, far past what the kernel buffers on loopback
    const socket = net.connect(main.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let closed = false;
    socket.on('close', () => (closed = true));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // No authentication needed: the answers are the public OpenAPI document.
    socket.write('GET /api/openapi.json HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(pipelined));
    socket.pause();
    await new Promise((r) => setTimeout(r, 70_000));
    let received = 0;
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.resume();
    await new Promise((r) => setTimeout(r, 5_000));
    const stillOpen = !closed;
    socket.destroy();
    // Today: the server waited the whole time with every answer buffered, and delivers all
    // of them (~20 MB) once the client reads, then keeps the connection.
    expect({ stillOpen, allDelivered: received >= pipelined * one }).toEqual({ stillOpen: false, allDelivered: false });
  }, 120_000);
});
