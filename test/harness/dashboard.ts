import { expect } from 'vitest';

/**
 * Logs in through the real form, as a browser without JavaScript: the page's CSRF cookie and
 * hidden field, then the POST. Answers the session cookie (`staryer_session=…`) for later
 * requests; `headers` go with the POST (a session cookie already held, say).
 */
export async function loginThroughForm(baseUrl: string, email: string, password: string, headers: Record<string, string> = {}): Promise<string> {
  const page = await fetch(`${baseUrl}/login`, { redirect: 'manual' });
  const token = /staryer_csrf=([^;]+)/.exec(page.headers.getSetCookie().join('\n'))![1]!;
  const res = await fetch(`${baseUrl}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers, cookie: [headers.cookie, `staryer_csrf=${token}`].filter(Boolean).join('; ') },
    body: new URLSearchParams({ csrf: token, email, password }).toString(),
  });
  const session = /staryer_session=([^;]+)/.exec(res.headers.getSetCookie().join('\n'))?.[1];
  expect(session, `login answered ${res.status}`).toBeTruthy();
  return `staryer_session=${session}`;
}
