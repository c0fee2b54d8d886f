import { redirect, type ActionFunctionArgs } from '@remix-run/node';
import { getCaller } from '~/lib/caller.server';
import { requireSessionCsrf } from '~/lib/csrf.server';
import { readFormData } from '~/lib/form.server';
import { clearSessionCookie } from '~/lib/session.server';

/** Logging out is a POST with the session's CSRF token; a link or a cross-site form cannot do it. */
export async function action({ request, context }: ActionFunctionArgs) {
  const { caller, session } = await getCaller(request, context);
  const headers = { 'Set-Cookie': clearSessionCookie(context.secureCookies) };
  if (!session) return redirect('/login', { headers });
  requireSessionCsrf(request, session, await readFormData(request));
  await caller.auth.logout();
  return redirect('/login', { headers });
}

/** A GET changes nothing. */
export const loader = () => redirect('/creator/dashboard/usage');
