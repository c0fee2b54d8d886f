import { json } from '@remix-run/node';
import { isValidCsrfToken } from '../../server/services/csrf.js';
import type { SessionAuth } from './load-context.js';
import { CSRF_FIELD, isSameOrigin, isValidAnonymousCsrf } from './session.server.js';

/**
 * Guards for form posts. A post that fails them changes nothing and answers 403: it
 * came from another site (Origin) or without the token only our own page carries.
 * The thrown response is rendered by the nearest error boundary.
 */
const forbidden = () =>
  json({ message: 'This form has expired or came from another site. Reload the page and try again.' }, { status: 403 });

/** Logged-in forms: the hidden `csrf` field must carry the session's CSRF secret. */
export function requireSessionCsrf(request: Request, session: SessionAuth, formData: FormData): void {
  if (!isSameOrigin(request) || !isValidCsrfToken(session, formData.get(CSRF_FIELD))) throw forbidden();
}

/** Sign-up and log-in forms: the hidden `csrf` field must match the double-submit cookie. */
export function requireAnonymousCsrf(request: Request, formData: FormData): void {
  if (!isSameOrigin(request) || !isValidAnonymousCsrf(request, formData.get(CSRF_FIELD))) throw forbidden();
}
