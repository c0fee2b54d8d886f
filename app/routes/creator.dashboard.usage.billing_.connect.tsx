import { redirect, type LoaderFunctionArgs } from '@remix-run/node';
import { requireCreator } from '~/lib/caller.server';
import { dashboardPath } from '~/lib/dashboard';
import { toFormError } from '~/lib/errors.server';
import { formAlertMessage } from '~/lib/form';

/**
 * Where Stripe sends the creator back from its Connect authorization page (the redirect URI
 * registered in the platform's Connect settings): with `code` and our `state` once the
 * account's owner approved, or `error` when they declined. The state is one-time and bound
 * to the signed-in creator (server/services/billing.ts), so this GET cannot be forged into
 * connecting someone else's account. Back to the Billing page with the outcome.
 */
export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const params = new URL(request.url).searchParams;
  const back = (outcome: Record<string, string>) => redirect(`${dashboardPath('billing')}?${new URLSearchParams(outcome).toString()}#stripe`, { headers: { 'Cache-Control': 'no-store' } });
  const declined = params.get('error');
  if (declined) return back({ connect_error: params.get('error_description') ?? (declined === 'access_denied' ? 'the authorization was declined on Stripe' : declined) });
  try {
    await caller.billing.completeConnect({ code: params.get('code') ?? '', state: params.get('state') ?? '' });
    return back({ connected: '1' });
  } catch (error) {
    const failure = toFormError(error);
    const detail = Object.values(failure.fields ?? {})[0];
    return back({ connect_error: detail ? `${formAlertMessage(failure)} (${detail})` : formAlertMessage(failure) });
  }
}
