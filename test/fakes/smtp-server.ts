import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server on localhost that keeps every message it accepts, for tests (and,
 * as a CLI, for trying alert emails by hand). It speaks plain SMTP without TLS, accepts
 * any login, and can be told to refuse messages with a temporary error (451) to exercise
 * retries.
 *
 *   tsx test/fakes/smtp-server.ts --port 1025     # then SMTP_URL=smtp://127.0.0.1:1025
 */

export type CapturedMail = {
  /** SMTP envelope: what the client said in MAIL FROM / RCPT TO. */
  envelopeFrom: string;
  envelopeTo: string[];
  /** Parsed headers and bodies. */
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string | undefined;
  /** Lower-case header name → value as mailparser gives it (strings for plain headers). */
  headers: Map<string, unknown>;
  receivedAt: Date;
};

export type Rejection = { code: number; message: string };

export type FakeSmtpServer = {
  url: string;
  port: number;
  /** Accepted messages, oldest first. */
  messages: CapturedMail[];
  /** Messages refused while rejecting, counted (their content is not kept). */
  rejectedCount: number;
  /** Waits until a captured message matches, or fails after timeoutMs. */
  waitFor: (predicate: (mail: CapturedMail) => boolean, timeoutMs?: number) => Promise<CapturedMail>;
  /** Refuse every message from now on (default 451, a temporary failure), until accept(). */
  reject: (code?: number, message?: string) => void;
  /** Refuse the next `count` messages, then accept again. */
  rejectNext: (count: number, code?: number, message?: string) => void;
  accept: () => void;
  /** Take messages but hold back the answer to each (the client waits) until release(). */
  hold: () => void;
  release: () => void;
  /** Messages taken and not answered yet, while holding. */
  readonly heldCount: number;
  /** Answer MAIL FROM and RCPT TO only after `ms` each (null: at once): a server slow at every step. */
  slowReplies: (ms: number | null) => void;
  /** Forget captured messages and the rejection count. */
  clear: () => void;
  close: () => Promise<void>;
};

const addresses = (value: AddressObject | AddressObject[] | undefined): string[] =>
  (Array.isArray(value) ? value : value ? [value] : []).flatMap((group) => group.value.map((a) => a.address ?? '')).filter(Boolean);

export async function startFakeSmtpServer(options: { port?: number; host?: string; onMessage?: (mail: CapturedMail) => void } = {}): Promise<FakeSmtpServer> {
  const host = options.host ?? '127.0.0.1';
  const messages: CapturedMail[] = [];
  const waiters = new Set<() => void>();
  let rejection: Rejection | null = null;
  let rejectRemaining = Infinity;
  let rejectedCount = 0;
  let holding = false;
  const held: Array<() => void> = [];
  let replyDelayMs: number | null = null;
  const slowly = (callback: () => void) => (replyDelayMs === null ? callback() : setTimeout(callback, replyDelayMs));

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    banner: 'staryer fake smtp',
    onAuth: (_auth, _session, callback) => callback(null, { user: 'test' }),
    onMailFrom: (_address, _session, callback) => slowly(() => callback()),
    onRcptTo: (_address, _session, callback) => slowly(() => callback()),
    onData(stream, session, rawCallback) {
      const callback = (error?: Error | null) => {
        if (!holding) return rawCallback(error);
        held.push(() => rawCallback(error));
      };
      if (rejection && rejectRemaining > 0) {
        const { code, message } = rejection;
        rejectedCount += 1;
        rejectRemaining -= 1;
        if (rejectRemaining <= 0) rejection = null;
        // Drain the message first: the client is still sending it.
        stream.on('data', () => undefined);
        stream.on('end', () => callback(Object.assign(new Error(message), { responseCode: code })));
        return;
      }
      simpleParser(stream)
        .then((parsed) => {
          const mail: CapturedMail = {
            envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            from: addresses(parsed.from)[0] ?? '',
            to: addresses(parsed.to),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            messageId: parsed.messageId,
            headers: parsed.headers as Map<string, unknown>,
            receivedAt: new Date(),
          };
          messages.push(mail);
          options.onMessage?.(mail);
          for (const wake of waiters) wake();
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Errors of single client connections (a test closing its transport mid-way) are not ours to fail on.
  server.on('error', () => undefined);
  const { port } = server.server.address() as AddressInfo;

  const fake: FakeSmtpServer = {
    url: `smtp://${host}:${port}`,
    port,
    messages,
    get rejectedCount() {
      return rejectedCount;
    },
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(predicate);
          if (!found) return false;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(found);
          return true;
        };
        const wake = () => void check();
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`No matching email within ${timeoutMs} ms (${messages.length} received: ${messages.map((m) => `${m.to.join(',')} "${m.subject}"`).join('; ') || 'none'})`));
        }, timeoutMs);
        waiters.add(wake);
        check();
      });
    },
    reject(code = 451, message = 'Try again later') {
      rejection = { code, message };
      rejectRemaining = Infinity;
    },
    rejectNext(count, code = 451, message = 'Try again later') {
      rejection = count > 0 ? { code, message } : null;
      rejectRemaining = count;
    },
    accept() {
      rejection = null;
    },
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const answer of held.splice(0)) answer();
    },
    get heldCount() {
      return held.length;
    },
    slowReplies(ms) {
      replyDelayMs = ms;
    },
    clear() {
      messages.length = 0;
      rejectedCount = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return fake;
}

async function main() {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '1025' }, host: { type: 'string', default: '127.0.0.1' }, html: { type: 'boolean', default: false } },
  });
  const smtp = await startFakeSmtpServer({
    port: Number(values.port),
    host: values.host,
    onMessage: (mail) => {
      const lines = [
        `── ${mail.receivedAt.toISOString()} ─────────────────────────────`,
        `From:    ${mail.from}`,
        `To:      ${mail.to.join(', ')}`,
        `Subject: ${mail.subject}`,
        '',
        mail.text.trimEnd(),
        ...(values.html ? ['', '[html]', mail.html] : []),
        '',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  });
  process.stdout.write(`Fake SMTP server listening: SMTP_URL=${smtp.url}\n`);
  const stop = () => void smtp.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
