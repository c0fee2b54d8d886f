import { Writable } from 'node:stream';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

/** The lines a logger writes, as text. */
function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger('info', {}, sink), text: () => lines.join('') };
}

describe('the log', () => {
  it('keeps the statement of a failed query but not its parameters, which may be secrets (message, stack, params, through err or error)', () => {
    const { log, text } = capture();
    const cause = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    const failed = new DrizzleQueryError('insert into "webhook_endpoints" ("url", "secret") values ($1, $2)', ['https://hooks.example.com/services/T0/B0/tokenXYZ', 'whsec_topsecret'], cause);
    log.error({ err: failed }, 'request failed');
    log.warn({ error: failed }, 'procedure failed');
    const out = text();
    expect(out).toContain('Failed query: insert into \\"webhook_endpoints\\"');
    expect(out).toContain('canceling statement due to statement timeout');
    expect(out).toContain('params: [redacted]');
    expect(out).not.toContain('whsec_topsecret');
    expect(out).not.toContain('tokenXYZ');
    const [first] = out.trim().split('\n').map((line) => JSON.parse(line) as { err: { stack: string; params: unknown } });
    expect(first!.err.params).toBe('[redacted]');
    expect(first!.err.stack).toMatch(/\n\s+at /);
  });

  it('logs other errors as they are', () => {
    const { log, text } = capture();
    log.error({ err: new Error('the disk is full') }, 'write failed');
    expect(JSON.parse(text())).toMatchObject({ err: { type: 'Error', message: 'the disk is full', stack: expect.stringContaining('the disk is full') } });
  });
});
