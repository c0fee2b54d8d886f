import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Webhook } from 'standardwebhooks';

/**
 * A real HTTP endpoint on localhost that receives webhooks the way a creator's server
 * would: it checks each Standard Webhooks signature with the `standardwebhooks` library,
 * keeps every request, and can be told to answer 500/503 or to be down (its port closed)
 * for a while, to exercise retries. For tests, and as a CLI for trying webhooks by hand:
 *
 *   tsx test/fakes/webhook-receiver.ts --port 4005 --secret whsec_…   # then register http://127.0.0.1:4005/
 *   tsx test/fakes/webhook-receiver.ts --port 4005 --status 503       # answer 503 to everything
 */

export type ReceivedWebhook = {
  /** The webhook-id header: the message id, the same on every attempt of a message. */
  id: string;
  path: string;
  /** Lower-case header name → value. */
  headers: Record<string, string>;
  rawBody: string;
  /** Parsed JSON body (undefined when the body is not JSON). */
  body: any;
  /** Whether the signature verified against the secret of this path (false without one). */
  verified: boolean;
  verifyError: string | null;
  /** The status this receiver answered. */
  status: number;
  receivedAt: Date;
};

export type WebhookReceiver = {
  /** Base URL (`http://127.0.0.1:port`); any path under it is accepted. */
  url: string;
  port: number;
  /** Every request, oldest first (also those answered with an error). */
  received: ReceivedWebhook[];
  /** Requests answered 2xx with a valid signature. */
  readonly delivered: ReceivedWebhook[];
  /** The secret to verify requests to `path` with (default: every path). */
  setSecret: (secret: string, path?: string) => void;
  /** Answer `status` to the next `times` requests (default: until answerNormally()). */
  failWith: (status: number, times?: number) => void;
  answerNormally: () => void;
  /** Close the port now; with `forMs`, open it again after that long. */
  goDown: (forMs?: number) => Promise<void>;
  comeUp: () => Promise<void>;
  /** Waits until the received requests satisfy the predicate; returns them. */
  waitFor: (predicate: (received: ReceivedWebhook[]) => boolean, timeoutMs?: number) => Promise<ReceivedWebhook[]>;
  clear: () => void;
  close: () => Promise<void>;
};

export type ReceiverOptions = {
  port?: number;
  host?: string;
  /** Secret for every path (setSecret can add per-path ones). */
  secret?: string;
  /** Answer 401 to a request whose signature does not verify when a secret is known (default true). */
  rejectBadSignatures?: boolean;
  onRequest?: (webhook: ReceivedWebhook) => void;
};

export async function startWebhookReceiver(options: ReceiverOptions = {}): Promise<WebhookReceiver> {
  const host = options.host ?? '127.0.0.1';
  const received: ReceivedWebhook[] = [];
  const secrets = new Map<string, string>();
  if (options.secret) secrets.set('*', options.secret);
  const waiters = new Set<() => void>();
  let failure: { status: number; remaining: number } | null = null;
  let upTimer: NodeJS.Timeout | undefined;

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const path = new URL(req.url ?? '/', 'http://receiver').pathname;
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const secret = secrets.get(path) ?? secrets.get('*');
      let verified = false;
      let verifyError: string | null = secret ? null : 'no secret configured';
      if (secret) {
        try {
          new Webhook(secret).verify(rawBody, headers);
          verified = true;
        } catch (error) {
          verifyError = (error as Error).message;
        }
      }
      let status = 200;
      if (failure && failure.remaining > 0) {
        status = failure.status;
        failure.remaining -= 1;
        if (failure.remaining <= 0) failure = null;
      } else if (secret && !verified && options.rejectBadSignatures !== false) {
        status = 401;
      }
      const webhook: ReceivedWebhook = {
        id: headers['webhook-id'] ?? '',
        path,
        headers,
        rawBody,
        body,
        verified,
        verifyError,
        status,
        receivedAt: new Date(),
      };
      received.push(webhook);
      options.onRequest?.(webhook);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(status < 300 ? { ok: true } : { error: status === 401 ? `bad signature: ${verifyError}` : `failing on purpose (${status})` }));
      for (const wake of waiters) wake();
    });
  };

  let server = http.createServer(handle);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const port = await listen(options.port ?? 0);
  let up = true;

  const receiver: WebhookReceiver = {
    url: `http://${host}:${port}`,
    port,
    received,
    get delivered() {
      return received.filter((r) => r.status < 300 && r.verified);
    },
    setSecret(secret, path = '*') {
      secrets.set(path, secret);
    },
    failWith(status, times = Infinity) {
      failure = { status, remaining: times };
    },
    answerNormally() {
      failure = null;
    },
    async goDown(forMs) {
      clearTimeout(upTimer);
      if (up) {
        up = false;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      if (forMs !== undefined) upTimer = setTimeout(() => void receiver.comeUp(), forMs);
    },
    async comeUp() {
      clearTimeout(upTimer);
      if (up) return;
      server = http.createServer(handle);
      await listen(port);
      up = true;
    },
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(received)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(received);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = received.map((r) => `${r.id} ${r.status}${r.verified ? '' : ' unverified'}`).join('; ') || 'none';
          reject(new Error(`Webhook receiver: condition not met within ${timeoutMs} ms (received: ${seen})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    clear() {
      received.length = 0;
    },
    async close() {
      clearTimeout(upTimer);
      if (!up) return;
      up = false;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4005' },
      host: { type: 'string', default: '127.0.0.1' },
      secret: { type: 'string' },
      status: { type: 'string' },
    },
  });
  const receiver = await startWebhookReceiver({
    port: Number(values.port),
    host: values.host,
    secret: values.secret,
    rejectBadSignatures: Boolean(values.secret),
    onRequest: (webhook) => {
      const signature = webhook.verifyError === 'no secret configured' ? 'not checked (no --secret)' : webhook.verified ? 'valid' : `INVALID (${webhook.verifyError})`;
      const lines = [
        `── ${webhook.receivedAt.toISOString()} POST ${webhook.path} → ${webhook.status} ─────────`,
        `webhook-id:        ${webhook.id}`,
        `webhook-timestamp: ${webhook.headers['webhook-timestamp'] ?? ''}`,
        `signature:         ${signature}`,
        webhook.body === undefined ? webhook.rawBody : JSON.stringify(webhook.body, null, 2),
        '',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  });
  if (values.status) receiver.failWith(Number(values.status));
  process.stdout.write(`Webhook receiver listening on ${receiver.url}/ (set ALLOW_PRIVATE_WEBHOOK_URLS=true to register it)\n`);
  const stop = () => void receiver.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
