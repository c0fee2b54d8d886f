import { randomBytes, timingSafeEqual } from 'node:crypto';
import { parse, serialize } from 'cookie';

export const SESSION_COOKIE = 'staryer_session';
export const CSRF_COOKIE = 'staryer_csrf';
export const CSRF_FIELD = 'csrf';

const cookieOf = (request: Request, name: string): string | null => {
  const header = request.headers.get('cookie');
  if (!header) return null;
  return parse(header)[name] ?? null;
};

export const readSessionToken = (request: Request) => cookieOf(request, SESSION_COOKIE);

/** httpOnly, SameSite=Lax, Secure behind https: scripts cannot read it, other sites cannot send it on POSTs. */
export function sessionCookie(token: string, expiresAt: Date, secure: boolean): string {
  return serialize(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure, path: '/', expires: expiresAt });
}

export function clearSessionCookie(secure: boolean): string {
  return serialize(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge: 0 });
}

/**
 * CSRF for forms used before login (sign up, log in): a double-submit token, set as a
 * cookie by the loader and echoed in a hidden field. Logged-in forms carry the
 * session's own CSRF secret instead (server/services/sessions.ts).
 */
export function issueAnonymousCsrf(request: Request, secure: boolean): { token: string; setCookie: string | null } {
  const existing = cookieOf(request, CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{32}$/.test(existing)) return { token: existing, setCookie: null };
  const token = randomBytes(24).toString('base64url');
  return { token, setCookie: serialize(CSRF_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure, path: '/' }) };
}

export function isValidAnonymousCsrf(request: Request, submitted: FormDataEntryValue | null): boolean {
  const cookie = cookieOf(request, CSRF_COOKIE);
  if (!cookie || typeof submitted !== 'string') return false;
  const a = Buffer.from(cookie);
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Browsers send Origin on POST; one that is not ours means a cross-site form. */
export function isSameOrigin(request: Request): boolean {
  const origin = request.headers.get('origin');
  if (!origin) return true; // non-browser clients; the CSRF token still has to match
  const host = request.headers.get('x-forwarded-host') ?? request.headers.get('host');
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
