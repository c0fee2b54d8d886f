import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the proxy does with one request:
 * - `pass`: forward, answer with the server's answer;
 * - `drop`: forward, let the server commit, then cut the client's connection — the
 *   client sees a network error for a request that succeeded;
 * - `delay`: forward, then hold the server's answer `ms` before passing it on (a client
 *   with a shorter timeout gives up on a request that succeeded);
 * - `status`: answer `status` with `headers` itself, without forwarding (429, 503…).
 */
export type Fault =
  | { kind: 'pass' }
  | { kind: 'drop' }
  | { kind: 'delay'; ms: number }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown };

export type ProxiedRequest = { at: number; method: string; path: string; fault: Fault['kind']; events: number; bytes: number; upstreamStatus?: number };

/** An HTTP proxy in front of the real server that injects faults from a script, request by request. */
export async function startFaultProxy(upstream: string) {
  const script: Fault[] = [];
  const log: ProxiedRequest[] = [];
  const target = new URL(upstream);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fault = script.shift() ?? { kind: 'pass' };
      let events = 0;
      try {
        const parsed = body.length ? (JSON.parse(body.toString()) as unknown) : null;
        events = Array.isArray(parsed) ? parsed.length : parsed ? 1 : 0;
      } catch {
        events = 0;
      }
      const entry: ProxiedRequest = { at: Date.now(), method: req.method ?? 'GET', path: req.url ?? '/', fault: fault.kind, events, bytes: body.length };
      log.push(entry);
      if (fault.kind === 'status') {
        const text = JSON.stringify(fault.body ?? { type: 'https://staryer.dev/problems/injected', title: 'Injected', status: fault.status, detail: 'Injected by the test proxy.' });
        res.writeHead(fault.status, { 'content-type': 'application/problem+json', ...fault.headers });
        res.end(text);
        return;
      }
      const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) };
      const upstreamReq = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (upstreamRes) => {
        const out: Buffer[] = [];
        upstreamRes.on('data', (c: Buffer) => out.push(c));
        upstreamRes.on('end', () => {
          entry.upstreamStatus = upstreamRes.statusCode;
          const answer = Buffer.concat(out);
          const reply = () => {
            if (res.destroyed) return;
            const { 'transfer-encoding': _te, connection: _c, ...rest } = upstreamRes.headers;
            res.writeHead(upstreamRes.statusCode ?? 502, { ...rest, 'content-length': String(answer.length) });
            res.end(answer);
          };
          if (fault.kind === 'drop') req.socket.destroy();
          else if (fault.kind === 'delay') setTimeout(reply, fault.ms);
          else reply();
        });
      });
      upstreamReq.on('error', () => req.socket.destroy());
      upstreamReq.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    /** Faults for the next requests, in order; requests past the script pass. */
    script: (...faults: Fault[]) => script.push(...faults),
    log,
    /** Requests to one path (default: the track endpoint). */
    requests: (path = '/api/usage/track') => log.filter((r) => r.path.startsWith(path)),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
