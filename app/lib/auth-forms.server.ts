import { json, redirect, type AppLoadContext } from '@remix-run/node';
import { getCaller } from './caller.server.js';
import { formErrorHeaders, toFormError } from './errors.server.js';
import { formAlertMessage, type FormFailure } from './form.js';
import { safeNextPath } from './safe-redirect.js';
import { issueAnonymousCsrf, sessionCookie } from './session.server.js';

/**
 * Shared by the sign-up and log-in pages: both are anonymous forms protected by a
 * double-submit CSRF token, both end in a session cookie and a redirect.
 */

/** The `next` a page was opened with, if it is a path on this site. */
export function nextFromUrl(request: Request): string | null {
  const next = new URL(request.url).searchParams.get('next');
  return next === null ? null : safeNextPath(next);
}

/** Loader: a creator already logged in goes on; anyone else gets the form's CSRF token. */
export async function loadAnonymousForm(request: Request, context: AppLoadContext) {
  const next = nextFromUrl(request);
  const { session } = await getCaller(request, context);
  if (session) throw redirect(next ?? safeNextPath(null));
  const csrf = issueAnonymousCsrf(request, context.secureCookies);
  const headers = new Headers({ 'Cache-Control': 'no-store' });
  if (csrf.setCookie) headers.append('Set-Cookie', csrf.setCookie);
  return json({ csrf: csrf.token, next }, { headers });
}

/** A granted session: set the cookie and go to `next` (or the dashboard). */
export function startSession(grant: { sessionToken: string; expiresAt: string }, next: FormDataEntryValue | null, context: AppLoadContext) {
  return redirect(safeNextPath(next), {
    headers: { 'Set-Cookie': sessionCookie(grant.sessionToken, new Date(grant.expiresAt), context.secureCookies) },
  });
}

/** A refused attempt, with the same status as the API would answer (422, 401, 409, 429 + Retry-After). */
export function authFormFailure(error: unknown, values: Record<string, string>) {
  const formError = toFormError(error);
  const failure: FormFailure = { status: formError.status, message: formAlertMessage(formError), fields: formError.fields };
  return json({ formError: failure, values }, { status: formError.status, headers: formErrorHeaders(formError) });
}
