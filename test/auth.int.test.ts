import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCreator } from '../db/tenant.js';
import { creators, creatorSessions } from '../db/schema.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, uniqueEmail } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url, { env: { AUTH_RATE_LIMIT_PER_EMAIL: '5', AUTH_RATE_LIMIT_PER_IP: '1000' } });
});
afterAll(() => server.close());

const call = (procedure: string, input: unknown, headers: Record<string, string> = {}) =>
  api(server.url)('POST', `/api/trpc/${procedure}`, input, headers);

const countCreators = async () => (await server.rt.ownerDb.select().from(creators)).length;

describe('sign up and log in', () => {
  it('signs up with a hashed password and opens a session that authenticates', async () => {
    const email = uniqueEmail('Signup');
    const response = await call('auth.signup', { email: `  ${email.toUpperCase()} `, password: 'a sound passphrase', name: 'Ada' });
    expect(response.status).toBe(200);
    const grant = response.json.result.data;
    expect(grant.sessionToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [row] = await server.rt.ownerDb.select().from(creators).where((await import('drizzle-orm')).eq(creators.creatorId, grant.creatorId));
    expect(row?.email).toBe(email.toLowerCase());
    expect(row?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(row?.passwordHash).not.toContain('a sound passphrase');
    const sessions = await withCreator(server.rt.db, grant.creatorId, (tx) => tx.select().from(creatorSessions));
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.tokenHash).not.toBe(grant.sessionToken);
  });

  it('rejects bad sign-up input with field errors and creates nothing', async () => {
    const before = await countCreators();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ email: 'not-an-email', password: 'a sound passphrase', name: 'A' }, 'email'],
      [{ email: uniqueEmail(), password: 'short', name: 'A' }, 'password'],
      [{ email: uniqueEmail(), password: '          ', name: 'A' }, 'password'],
      [{ email: uniqueEmail(), password: 'a sound passphrase', name: '' }, 'name'],
      [{ email: uniqueEmail(), password: 'a sound passphrase' }, 'name'],
      [{ email: uniqueEmail(), password: 'x'.repeat(257), name: 'A' }, 'password'],
      [{ email: `${'a'.repeat(250)}@example.com`, password: 'a sound passphrase', name: 'A' }, 'email'],
      [{ email: uniqueEmail(), password: 'nul\u0000passphrase', name: 'A' }, 'password'],
    ];
    for (const [input, field] of cases) {
      const response = await call('auth.signup', input);
      expect(response.status, JSON.stringify(input)).toBe(422);
      expect(response.json.error.data.problem.errors.map((e: { field: string }) => e.field), JSON.stringify(input)).toContain(field);
    }
    expect(await countCreators()).toBe(before);
  });

  it('refuses a duplicate email, whatever its case, with a clear message', async () => {
    const email = uniqueEmail('dup');
    expect((await call('auth.signup', { email, password: 'a sound passphrase', name: 'A' })).status).toBe(200);
    const before = await countCreators();
    const again = await call('auth.signup', { email: email.toUpperCase(), password: 'another passphrase', name: 'B' });
    expect(again.status).toBe(409);
    expect(again.json.error.data.problem).toMatchObject({ detail: 'An account with this email already exists. Log in instead.', errors: [{ field: 'email' }] });
    expect(await countCreators()).toBe(before);
  });

  it('logs in with the right password and gives the same answer for a wrong password and an unknown email', async () => {
    const email = uniqueEmail('login');
    await call('auth.signup', { email, password: 'a sound passphrase', name: 'A' });
    const ok = await call('auth.login', { email, password: 'a sound passphrase' });
    expect(ok.status).toBe(200);
    const wrong = await call('auth.login', { email, password: 'wrong passphrase!' });
    const unknown = await call('auth.login', { email: uniqueEmail('nobody'), password: 'wrong passphrase!' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const strip = (j: Record<string, any>) => ({ ...j.error.data.problem, request_id: undefined });
    expect(strip(wrong.json)).toEqual(strip(unknown.json));
    expect(wrong.json.error.data.problem.detail).toBe('Email or password is incorrect.');
  });

  it('spends comparable time on an unknown email and a wrong password (no timing enumeration)', async () => {
    const time = async (input: { email: string; password: string }) => {
      const started = performance.now();
      await call('auth.login', input);
      return performance.now() - started;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Nine of each, interleaved, so that a moment of load on the machine (other test files
    // run beside this one) moves one sample, not the median; three accounts of each kind, as
    // this file allows five attempts per email.
    const accounts: string[] = [];
    for (let a = 0; a < 3; a++) {
      const email = uniqueEmail('timing');
      await call('auth.signup', { email, password: 'a sound passphrase', name: 'A' }, { 'x-forwarded-for': '10.0.0.9' });
      accounts.push(email);
    }
    // An account made without a password (CLI, bootstrap) cannot log in, and must not
    // answer faster than one with a password either.
    const passwordless: string[] = [];
    for (let a = 0; a < 3; a++) {
      const email = uniqueEmail('no-password');
      await createCreatorWithKey(server.rt, { email });
      passwordless.push(email);
    }
    const wrong: number[] = [];
    const unknown: number[] = [];
    const withoutPassword: number[] = [];
    for (let i = 0; i < 9; i++) {
      wrong.push(await time({ email: accounts[i % 3]!, password: `wrong ${i} passphrase` }));
      unknown.push(await time({ email: uniqueEmail('ghost'), password: `wrong ${i} passphrase` }));
      withoutPassword.push(await time({ email: passwordless[i % 3]!, password: `wrong ${i} passphrase` }));
    }
    // All run one argon2 verification (tens of ms); a missing one would be ~10x faster.
    for (const times of [unknown, withoutPassword]) {
      const ratio = median(times) / median(wrong);
      expect(ratio).toBeGreaterThan(0.4);
      expect(ratio).toBeLessThan(2.5);
    }
  });

  it('rate-limits attempts per email with 429 and Retry-After', async () => {
    const email = uniqueEmail('brute');
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 7; i++) {
      last = await call('auth.login', { email, password: `guess number ${i}` });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(last!.json.error.data.problem).toMatchObject({ status: 429, type: expect.stringContaining('rate-limited') });
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('counts only guesses: log-ins with the right password never use up the budget, and the wrong ones between them still do', async () => {
    const email = uniqueEmail('often');
    expect((await call('auth.signup', { email, password: 'a sound passphrase', name: 'A' })).status).toBe(200);
    // Twice the budget of right log-ins (several browsers, teammates, a script), then a few guesses.
    for (let i = 0; i < 10; i++) expect((await call('auth.login', { email, password: 'a sound passphrase' })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await call('auth.login', { email, password: `guess ${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });
});

describe('per-IP rate limit', () => {
  it('limits sign-ups from one address across different emails', async () => {
    const limited = await startTestServer(url, { env: { AUTH_RATE_LIMIT_PER_EMAIL: '100', AUTH_RATE_LIMIT_PER_IP: '3' } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const response = await api(limited.url)('POST', '/api/trpc/auth.signup', { email: uniqueEmail('ip'), password: 'a sound passphrase', name: 'A' });
        statuses.push(response.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await limited.close();
    }
  });
});
