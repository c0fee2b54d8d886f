import { describe, expect, it } from 'vitest';
import { authenticateSession, createSession } from '../server/services/sessions.js';
import { loginThroughForm } from './harness/dashboard.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * A creator whose password leaked changes it and signs out whoever used it; a login over a
 * session ends that session. Through the dashboard's form and the session's tRPC procedures.
 */
const { url } = await useTestDatabase();
const server = useTestServer(url, { pages: true, env: { AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000' } });

const raw = (path: string, init: RequestInit = {}) => fetch(server().url + path, { redirect: 'manual', ...init });
const SETTINGS = '/creator/dashboard/usage/settings';
const PASSWORD = 'the first passphrase';

const tokenOf = (cookie: string) => cookie.slice('staryer_session='.length);
const isSignedIn = async (cookie: string) => (await authenticateSession(server().rt, tokenOf(cookie))) !== null;

/** A creator signed in twice (this browser and another), and their settings form. */
async function signedInTwice() {
  const { creator, email, apiKey } = await createCreatorWithKey(server().rt, { password: PASSWORD });
  const here = await loginThroughForm(server().url, email, PASSWORD);
  const elsewhere = await loginThroughForm(server().url, email, PASSWORD);
  const post = async (fields: Record<string, string>) => {
    const page = await (await raw(SETTINGS, { headers: { cookie: here } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const res = await raw(SETTINGS, { method: 'POST', headers: { cookie: here, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, ...fields }).toString() });
    return { status: res.status, html: await res.text() };
  };
  return { creator, email, apiKey, here, elsewhere, post };
}

/** Whether the login form takes this password (a session cookie set). */
async function logsIn(email: string, password: string): Promise<boolean> {
  const page = await raw('/login');
  const token = /staryer_csrf=([^;]+)/.exec(page.headers.getSetCookie().join('\n'))![1]!;
  const res = await raw('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `staryer_csrf=${token}` },
    body: new URLSearchParams({ csrf: token, email, password }).toString(),
  });
  return res.headers.getSetCookie().some((c) => c.startsWith('staryer_session=') && !c.includes('Max-Age=0'));
}

describe('changing the password', () => {
  it('through the settings form: the new password logs in, the old one no longer does, every other session is signed out and this one stays', async () => {
    const c = await signedInTwice();
    const changed = await c.post({ intent: 'password', current_password: PASSWORD, new_password: 'a brand new passphrase' });
    expect(changed.status).toBe(200);
    expect(changed.html).toContain('Password changed.');
    expect(changed.html).toContain('1 other session was signed out.');
    // Never echoed back into the page.
    expect(changed.html).not.toContain('a brand new passphrase');
    expect(await isSignedIn(c.here)).toBe(true);
    expect(await isSignedIn(c.elsewhere)).toBe(false);
    expect((await raw(SETTINGS, { headers: { cookie: c.elsewhere } })).headers.get('location')).toMatch(/^\/login/);
    expect(await logsIn(c.email, PASSWORD)).toBe(false);
    expect(await logsIn(c.email, 'a brand new passphrase')).toBe(true);
    // API keys are not sessions: they keep working.
    expect((await api(server().url, c.apiKey)('GET', '/api/usage/me')).status).toBe(200);
  });

  it('a wrong current password or a too-short new one is refused, naming the field, and changes nothing', async () => {
    const c = await signedInTwice();
    const wrong = await c.post({ intent: 'password', current_password: 'not the passphrase', new_password: 'a brand new passphrase' });
    expect(wrong.status).toBe(422);
    expect(wrong.html).toContain('is not your current password');
    const short = await c.post({ intent: 'password', current_password: PASSWORD, new_password: 'short' });
    expect(short.status).toBe(422);
    expect(short.html).toContain('must be at least 10 characters');
    expect(await isSignedIn(c.elsewhere)).toBe(true);
    expect(await logsIn(c.email, PASSWORD)).toBe(true);
  });

  it('over tRPC only with a session (and its CSRF token): an API key cannot change the password', async () => {
    const c = await signedInTwice();
    const withKey = await api(server().url, c.apiKey)('POST', '/api/trpc/auth.changePassword', { current_password: PASSWORD, new_password: 'a brand new passphrase' });
    // A valid key may not do this: 403 naming why (401 would send the client to fix its key)
    expect(withKey.status).toBe(403);
    expect(withKey.json).toMatchObject({ error: { data: { problem: { type: expect.stringMatching(/forbidden$/), detail: expect.stringMatching(/log in as the creator/) } } } });
    const session = (await authenticateSession(server().rt, tokenOf(c.here)))!;
    const withoutCsrf = await raw('/api/trpc/auth.changePassword', {
      method: 'POST',
      headers: { cookie: c.here, 'content-type': 'application/json' },
      body: JSON.stringify({ current_password: PASSWORD, new_password: 'a brand new passphrase' }),
    });
    expect(withoutCsrf.status).toBe(403);
    expect(await logsIn(c.email, PASSWORD)).toBe(true);
    const changed = await raw('/api/trpc/auth.changePassword', {
      method: 'POST',
      headers: { cookie: c.here, 'content-type': 'application/json', 'x-csrf-token': session.csrfSecret },
      body: JSON.stringify({ current_password: PASSWORD, new_password: 'a brand new passphrase' }),
    });
    expect(changed.status).toBe(200);
    // The other browser's session and the one the login check above opened.
    expect(((await changed.json()) as { result: { data: unknown } }).result.data).toEqual({ sessions_ended: 2 });
    expect(await logsIn(c.email, 'a brand new passphrase')).toBe(true);
  });
});

describe('other sessions', () => {
  it('"sign out everywhere else" ends every other session of the creator, not this one and not another creator’s', async () => {
    const c = await signedInTwice();
    const third = await createSession(server().rt, { creatorId: c.creator.id, ip: null, userAgent: null });
    const other = await signedInTwice();
    const done = await c.post({ intent: 'logout-others' });
    expect(done.status).toBe(200);
    expect(done.html).toContain('2 other sessions were signed out.');
    expect(await isSignedIn(c.here)).toBe(true);
    expect(await isSignedIn(c.elsewhere)).toBe(false);
    expect(await authenticateSession(server().rt, third.sessionToken)).toBeNull();
    expect(await isSignedIn(other.here)).toBe(true);
    expect(await isSignedIn(other.elsewhere)).toBe(true);
    const again = await c.post({ intent: 'logout-others' });
    expect(again.html).toContain('No other session was signed in.');
  });

  it('a login sent with a session cookie ends that session: the browser holds only the new one', async () => {
    const { email } = await createCreatorWithKey(server().rt, { password: PASSWORD });
    const first = await loginThroughForm(server().url, email, PASSWORD);
    const second = await loginThroughForm(server().url, email, PASSWORD, { cookie: first });
    expect(second).not.toBe(first);
    expect(await isSignedIn(second)).toBe(true);
    expect(await isSignedIn(first)).toBe(false);
  });
});
