import { json, type ActionFunctionArgs } from '@remix-run/node';
import { requireCreator } from './caller.server.js';
import { requireSessionCsrf } from './csrf.server.js';
import { formErrorHeaders, toFormError } from './errors.server.js';
import { readFormData } from './form.server.js';
import { formAlertMessage, formText, type FormFailure } from './form.js';

/**
 * The alert actions of the Alerts list and an alert's page: acknowledge one alert, mute or
 * unmute notifications for a customer × meter. Each is a form post with the session's
 * CSRF token; the answer says what happened, or why not, with the values posted.
 */
export type AlertActionResult = {
  intent: 'acknowledge' | 'mute' | 'unmute';
  ok: boolean;
  /** The alert acknowledged (acknowledge) or the pair (un)muted. */
  alertId: string | null;
  values: { user_id: string; meter_id: string };
  formError: FormFailure | null;
};

const INTENTS = ['acknowledge', 'mute', 'unmute'] as const;
const isIntent = (value: string): value is AlertActionResult['intent'] => (INTENTS as readonly string[]).includes(value);

export async function alertAction({ request, context }: ActionFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const formData = await readFormData(request);
  requireSessionCsrf(request, session, formData);
  const intent = formText(formData, 'intent');
  if (!isIntent(intent)) throw json({ message: 'This form does not exist.' }, { status: 400 });

  // The user_id as it is (spaces around it are part of some customers' ids); only blanks are none.
  const typed = formText(formData, 'user_id');
  const values = { user_id: typed.trim() === '' ? '' : typed, meter_id: formText(formData, 'meter_id') };
  const result: AlertActionResult = { intent, ok: false, alertId: null, values, formError: null };
  try {
    if (intent === 'acknowledge') {
      const alert = await caller.alerts.acknowledge({ id: formText(formData, 'id') });
      result.alertId = alert.id;
    } else {
      await caller.alerts.mute({ ...values, muted: intent === 'mute' });
    }
    result.ok = true;
    return json(result);
  } catch (error) {
    const formError = toFormError(error);
    result.formError = { status: formError.status, message: formAlertMessage(formError), fields: formError.fields };
    return json(result, { status: formError.status, headers: formErrorHeaders(formError) });
  }
}
