import { json, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData } from '@remix-run/react';
import { Badge, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { ReactNode } from 'react';
import { ALERT_KINDS, ALERT_KIND_NAMES, DeliveryStatusBadge, WEBHOOK_EVENTS, WEBHOOK_EVENT_NAMES, isAlertKind, isWebhookEvent } from '~/components/alert-badges';
import { Button } from '~/components/buttons';
import { CheckboxField, CheckboxGroup } from '~/components/choice-fields';
import { ConfirmAction } from '~/components/confirm-action';
import { OneTimeSecret } from '~/components/copy-button';
import { CsrfField } from '~/components/csrf-field';
import { DataTable } from '~/components/data-table';
import { FormAlert, TextField } from '~/components/form-field';
import { SuccessNotice, WarningNotice } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import { Timestamp } from '~/components/timestamp';
import { requireCreator } from '~/lib/caller.server';
import { requireSessionCsrf } from '~/lib/csrf.server';
import { dashboardPath, useDashboard } from '~/lib/dashboard';
import { formErrorHeaders, toFormError } from '~/lib/errors.server';
import { readFormData } from '~/lib/form.server';
import { formAlertMessage, formText, savedFormKey, type FormFailure } from '~/lib/form';
import { pageHeaders } from '~/lib/page-headers';
import { planNamesOf, unlimitedPlanNote } from '~/lib/plans';
import { linkClass } from '~/components/styles';
import { Section, usePending as usePendingOf } from '~/components/section';

export const meta: MetaFunction = () => [{ title: 'Settings · Staryer Usage' }];

export const headers = pageHeaders;

const RECENT_EMAILS = 50;

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const [settings, alertSettings, { webhooks }, { emails }, { queues }, { meters }] = await Promise.all([
    caller.settings.get(),
    caller.alerts.settings(),
    caller.webhooks.list(),
    caller.emails.list({ limit: RECENT_EMAILS }),
    caller.system.queues(),
    caller.meters.list({ include_archived: false }),
  ]);
  const planNames = planNamesOf(meters);
  return json({ settings, alertSettings, webhooks, emails, queues, planNames }, { headers: { 'Cache-Control': 'private, no-store' } });
}

const INTENTS = ['defaults', 'alert-emails', 'webhook-create', 'webhook-enable', 'webhook-disable', 'webhook-delete', 'webhook-test', 'password', 'logout-others'] as const;
type Intent = (typeof INTENTS)[number];
const isIntent = (value: string): value is Intent => (INTENTS as readonly string[]).includes(value);

/** What the forms posted, kept so that a refused form shows the creator's input again. */
type Values = {
  default_plan: string;
  late_event_grace_hours: string;
  creator_email: string;
  upgrade_url: string;
  email_kinds: string[];
  email_customers: boolean;
  url: string;
  events: string[];
};

type ActionResult = {
  intent: Intent;
  /** When it was answered: each successful save resets its form to what is stored (two saves alike included). */
  at: number;
  ok: boolean;
  /** The endpoint a row action was about. */
  endpointId: string | null;
  formError: FormFailure | null;
  values: Values;
  created: { id: string; url: string; secret: string } | null;
  test: { statusCode: number | null; latencyMs: number; success: boolean; error: string | null } | null;
  /** Other sessions a password change or "sign out everywhere else" ended. */
  sessionsEnded: number | null;
};

function readValues(formData: FormData): Values {
  return {
    default_plan: formText(formData, 'default_plan').trim(),
    late_event_grace_hours: formText(formData, 'late_event_grace_hours').trim(),
    creator_email: formText(formData, 'creator_email').trim(),
    upgrade_url: formText(formData, 'upgrade_url').trim(),
    email_kinds: formData.getAll('email_kinds').filter(isAlertKind),
    email_customers: formData.get('email_customers') === 'on',
    url: formText(formData, 'url').trim(),
    events: formData.getAll('events').filter(isWebhookEvent),
  };
}

export async function action({ request, context }: ActionFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const formData = await readFormData(request);
  requireSessionCsrf(request, session, formData);
  const intent = formText(formData, 'intent');
  if (!isIntent(intent)) throw json({ message: 'This form does not exist.' }, { status: 400 });

  const values = readValues(formData);
  const endpointId = formText(formData, 'id');
  const result: ActionResult = { intent, at: Date.now(), ok: false, endpointId: endpointId || null, formError: null, values, created: null, test: null, sessionsEnded: null };
  try {
    switch (intent) {
      case 'defaults':
        await caller.settings.update({
          default_plan: values.default_plan || null,
          // Empty is not "unchanged" here: the server's message says what a valid value is.
          late_event_grace_hours: values.late_event_grace_hours === '' ? Number.NaN : Number(values.late_event_grace_hours),
        });
        break;
      case 'alert-emails':
        await caller.alerts.updateSettings({
          creator_email: values.creator_email || null,
          email_kinds: values.email_kinds.filter(isAlertKind),
          email_customers: values.email_customers,
          upgrade_url: values.upgrade_url || null,
        });
        break;
      case 'webhook-create': {
        const created = await caller.webhooks.create({ url: values.url, events: values.events.filter(isWebhookEvent) });
        result.created = { id: created.id, url: created.url, secret: created.secret };
        result.endpointId = created.id;
        result.ok = true;
        // The secret is in this response only: no cache may keep it.
        return json(result, { headers: { 'Cache-Control': 'no-store' } });
      }
      case 'webhook-enable':
      case 'webhook-disable':
        await caller.webhooks.update({ id: endpointId, patch: { enabled: intent === 'webhook-enable' } });
        break;
      case 'webhook-delete':
        await caller.webhooks.delete({ id: endpointId });
        break;
      case 'password':
        // Passwords are never echoed back into the form (values holds none).
        result.sessionsEnded = (
          await caller.auth.changePassword({ current_password: formText(formData, 'current_password'), new_password: formText(formData, 'new_password') })
        ).sessions_ended;
        break;
      case 'logout-others':
        result.sessionsEnded = (await caller.auth.logoutOthers()).sessions_ended;
        break;
      case 'webhook-test': {
        const attempt = await caller.webhooks.sendTest({ id: endpointId });
        result.test = { statusCode: attempt.status_code, latencyMs: attempt.latency_ms, success: attempt.success, error: attempt.error };
        break;
      }
    }
    result.ok = true;
    return json(result);
  } catch (error) {
    const formError = toFormError(error);
    result.formError = { status: formError.status, message: formAlertMessage(formError), fields: formError.fields };
    return json(result, { status: formError.status, headers: formErrorHeaders(formError) });
  }
}

type LoaderData = ReturnType<typeof useLoaderData<typeof loader>>;
type Result = ReturnType<typeof useActionData<typeof action>>;

/** The outcome of one form, shown beside it. */
function FormOutcome({ result, intents, success }: { result: Result; intents: readonly Intent[]; success: ReactNode }) {
  if (!result || !intents.includes(result.intent)) return null;
  if (result.formError) return <FormAlert>{result.formError.message}</FormAlert>;
  return result.ok ? <SuccessNotice focusIfLost={result}>{success}</SuccessNotice> : null;
}

function DefaultsForm({ settings, planNames, csrf, result }: { settings: LoaderData['settings']; planNames: string[]; csrf: string; result: Result }) {
  const isPending = usePendingOf<Intent>();
  const failed = result?.intent === 'defaults' && result.formError ? result : null;
  const fields = failed?.formError?.fields ?? {};
  const planNote = unlimitedPlanNote(settings.default_plan, planNames, 'default');
  return (
    <Form method="post" noValidate preventScrollReset className="space-y-5" aria-label="Defaults" key={savedFormKey(result, 'defaults', settings)}>
      <CsrfField token={csrf} />
      <input type="hidden" name="intent" value="defaults" />
      <FormOutcome result={result} intents={['defaults']} success="Defaults saved." />
      <div className="grid gap-5 md:grid-cols-2">
        <TextField
          label="Default plan"
          name="default_plan"
          list="plan-names"
          maxLength={100}
          placeholder="No default plan"
          defaultValue={failed ? failed.values.default_plan : (settings.default_plan ?? '')}
          error={fields.default_plan}
          hint="Customers your apps report before you assign them a plan get this one. Empty: no plan — usage is recorded but never limited."
        />
        {planNote ? (
          <p className="text-tremor-label text-amber-700 md:col-span-2" data-testid="default-plan-unlimited">
            {planNote}
          </p>
        ) : null}
        <datalist id="plan-names">
          {planNames.map((name) => (
            <option key={name} value={name} />
          ))}
        </datalist>
        <TextField
          label="Late-event grace (hours)"
          name="late_event_grace_hours"
          type="number"
          inputMode="numeric"
          min={0}
          max={840}
          step={1}
          required
          defaultValue={failed ? failed.values.late_event_grace_hours : String(settings.late_event_grace_hours)}
          error={fields.late_event_grace_hours}
          hint="How long after a billing period ends its events are still accepted (0–840; default 24). Later ones answer 422 period-closed."
        />
      </div>
      <Button pending={isPending('defaults')} pendingLabel="Saving…">
        Save defaults
      </Button>
    </Form>
  );
}

function AlertEmailsForm({ alertSettings, accountEmail, csrf, result }: { alertSettings: LoaderData['alertSettings']; accountEmail: string; csrf: string; result: Result }) {
  const isPending = usePendingOf<Intent>();
  const failed = result?.intent === 'alert-emails' && result.formError ? result : null;
  const fields = failed?.formError?.fields ?? {};
  const values = failed
    ? failed.values
    : {
        creator_email: alertSettings.creator_email ?? '',
        upgrade_url: alertSettings.upgrade_url ?? '',
        email_kinds: alertSettings.email_kinds,
        email_customers: alertSettings.email_customers,
      };
  return (
    <Form method="post" noValidate preventScrollReset className="space-y-5" aria-label="Alert emails" key={savedFormKey(result, 'alert-emails', alertSettings)}>
      <CsrfField token={csrf} />
      <input type="hidden" name="intent" value="alert-emails" />
      <FormOutcome result={result} intents={['alert-emails']} success="Alert email settings saved." />
      <div className="grid gap-5 md:grid-cols-2">
        <TextField
          label="Send alerts to"
          name="creator_email"
          type="email"
          autoComplete="email"
          maxLength={254}
          placeholder={accountEmail}
          defaultValue={values.creator_email}
          error={fields.creator_email}
          hint={`Your team’s address for alert emails. Empty: your account email (${accountEmail}).`}
        />
        <TextField
          label="Upgrade link"
          name="upgrade_url"
          type="url"
          maxLength={2000}
          placeholder="https://example.com/pricing"
          defaultValue={values.upgrade_url}
          error={fields.upgrade_url}
          hint="Where emails to your customers send them to raise their limit."
        />
      </div>
      <CheckboxGroup
        legend="Email me about"
        name="email_kinds"
        columns={4}
        checked={values.email_kinds}
        error={fields.email_kinds}
        options={ALERT_KIND_NAMES.map((kind) => ({ value: kind, label: ALERT_KINDS[kind].label, description: ALERT_KINDS[kind].description }))}
      />
      <CheckboxField
        id="email_customers"
        name="email_customers"
        label="Email my customers too"
        description="Each alert also goes to the customer’s own email (set with PUT /api/usage/customers/{user_id}), with their usage, limit, period end and your upgrade link."
        defaultChecked={values.email_customers}
      />
      <Button pending={isPending('alert-emails')} pendingLabel="Saving…">
        Save alert emails
      </Button>
    </Form>
  );
}

const sessionsEndedText = (n: number) => (n === 0 ? 'No other session was signed in.' : `${n} other ${n === 1 ? 'session was' : 'sessions were'} signed out.`);

function AccountSecurity({ csrf, result }: { csrf: string; result: Result }) {
  const isPending = usePendingOf<Intent>();
  const failed = result?.intent === 'password' && result.formError ? result : null;
  const fields = failed?.formError?.fields ?? {};
  const ended = result?.ok && result.sessionsEnded !== null ? sessionsEndedText(result.sessionsEnded) : '';
  return (
    <div className="space-y-8">
      <Form method="post" noValidate preventScrollReset className="space-y-5" aria-label="Change password" key={savedFormKey(result, 'password')}>
        <CsrfField token={csrf} />
        <input type="hidden" name="intent" value="password" />
        <FormOutcome result={result} intents={['password']} success={`Password changed. ${ended}`} />
        <div className="grid gap-5 md:grid-cols-2">
          <TextField label="Current password" name="current_password" type="password" autoComplete="current-password" required error={fields.current_password} />
          <TextField
            label="New password"
            name="new_password"
            type="password"
            autoComplete="new-password"
            required
            minLength={10}
            maxLength={256}
            error={fields.new_password}
            hint="At least 10 characters. Every other session is signed out."
          />
        </div>
        <Button pending={isPending('password')} pendingLabel="Changing…">
          Change password
        </Button>
      </Form>
      <Form method="post" preventScrollReset className="space-y-3" aria-label="Other sessions">
        <CsrfField token={csrf} />
        <input type="hidden" name="intent" value="logout-others" />
        <FormOutcome result={result} intents={['logout-others']} success={ended} />
        <Button variant="secondary" pending={isPending('logout-others')} pendingLabel="Signing out…">
          Sign out everywhere else
        </Button>
      </Form>
    </div>
  );
}

function NewWebhookSecret({ created }: { created: NonNullable<ActionResult['created']> }) {
  return (
    <WarningNotice titleId="new-webhook-title" title={`Signing secret for ${created.url}`} focusIfLost={created}>
      <p>
        Verify every delivery with it (Standard Webhooks: <code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>). Copy it now —{' '}
        <strong>it will not be shown again</strong>.
      </p>
      <OneTimeSecret value={created.secret} testId="new-webhook-secret" copyLabel="Copy secret" />
    </WarningNotice>
  );
}

function CreateWebhookForm({ csrf, result }: { csrf: string; result: Result }) {
  const isPending = usePendingOf<Intent>();
  const failed = result?.intent === 'webhook-create' && result.formError ? result : null;
  const fields = failed?.formError?.fields ?? {};
  // The server's wording is for API clients; here the fix is a checkbox.
  const eventsError = Object.keys(fields).some((f) => f.startsWith('events')) ? 'Choose at least one event.' : undefined;
  return (
    <Form method="post" noValidate preventScrollReset className="space-y-5" aria-label="Add a webhook endpoint" key={result?.created?.id ?? 'new'}>
      <CsrfField token={csrf} />
      <input type="hidden" name="intent" value="webhook-create" />
      <h3 className="text-tremor-default font-semibold text-tremor-content-strong">Add an endpoint</h3>
      {failed?.formError ? <FormAlert>{failed.formError.message}</FormAlert> : null}
      <TextField
        className="max-w-2xl"
        label="Endpoint URL"
        name="url"
        type="url"
        required
        maxLength={2048}
        placeholder="https://example.com/webhooks/staryer"
        defaultValue={failed?.values.url}
        error={fields.url}
        hint="An https URL of yours that answers 2xx. Deliveries are retried with backoff for up to 3 days; an endpoint whose every delivery fails for 24 h is disabled, and you are emailed."
      />
      <CheckboxGroup
        legend="Events"
        name="events"
        mono
        checked={failed ? failed.values.events : WEBHOOK_EVENT_NAMES}
        error={eventsError}
        options={WEBHOOK_EVENT_NAMES.map((type) => ({ value: type, label: type, description: ALERT_KINDS[WEBHOOK_EVENTS[type].kind].description }))}
      />
      <Button pending={isPending('webhook-create')} pendingLabel="Adding…">
        Add endpoint
      </Button>
    </Form>
  );
}

/** A hidden-field form with one button, for an action on one endpoint. */
function EndpointAction({ intent, id, csrf, children, pendingLabel }: { intent: Intent; id: string; csrf: string; children: ReactNode; pendingLabel: string }) {
  const isPending = usePendingOf<Intent>();
  return (
    <Form method="post" preventScrollReset className="inline">
      <CsrfField token={csrf} />
      <input type="hidden" name="intent" value={intent} />
      <input type="hidden" name="id" value={id} />
      <Button variant="small" pending={isPending(intent, id)} pendingLabel={pendingLabel}>
        {children}
      </Button>
    </Form>
  );
}

function TestOutcome({ test }: { test: NonNullable<ActionResult['test']> }) {
  return (
    <p
      role="status"
      data-testid="webhook-test-result"
      className={`mt-2 whitespace-normal text-tremor-label ${test.success ? 'text-emerald-700' : 'text-red-700'}`}
    >
      Test event: {test.statusCode === null ? 'no answer' : `HTTP ${test.statusCode}`} in {test.latencyMs} ms
      {test.error ? ` — ${test.error}` : ''}
    </p>
  );
}

function WebhooksSection({ webhooks, csrf, result }: { webhooks: LoaderData['webhooks']; csrf: string; result: Result }) {
  const rowResult = (id: string) => (result && result.endpointId === id && result.intent !== 'webhook-create' ? result : null);
  const deleted = result?.intent === 'webhook-delete' && result.ok;
  const rowError = result && result.intent !== 'webhook-create' && result.intent.startsWith('webhook-') && result.formError ? result.formError : null;
  return (
    <div className="space-y-6">
      {result?.created ? <NewWebhookSecret created={result.created} /> : null}
      {deleted ? <SuccessNotice focusIfLost={result}>Endpoint deleted.</SuccessNotice> : null}
      {rowError ? <FormAlert>{rowError.message}</FormAlert> : null}
      {webhooks.length === 0 ? (
        <p className="text-tremor-default text-tremor-content" data-testid="no-webhooks">
          No endpoints yet. Add one to have alerts POSTed to your systems as they happen.
        </p>
      ) : (
        <div className="-mx-6 overflow-x-auto">
          <DataTable aria-label="Webhook endpoints">
            <TableHead>
              <TableRow>
                <TableHeaderCell className="pl-6">URL</TableHeaderCell>
                <TableHeaderCell>Events</TableHeaderCell>
                <TableHeaderCell>Status</TableHeaderCell>
                <TableHeaderCell>Added</TableHeaderCell>
                <TableHeaderCell className="pr-6 text-right">
                  <span className="sr-only">Actions</span>
                </TableHeaderCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {webhooks.map((hook) => {
                const own = rowResult(hook.id);
                return (
                  <TableRow key={hook.id} data-testid="webhook-row" data-endpoint-id={hook.id}>
                    <TableCell className="max-w-xs whitespace-normal break-all pl-6 font-mono text-[13px] text-tremor-content-strong">{hook.url}</TableCell>
                    <TableCell>
                      <div className="flex max-w-xs flex-wrap gap-1">
                        {hook.events.map((event) => (
                          <Badge key={event} color="gray" size="xs">
                            {event.replace(/^usage\./, '')}
                          </Badge>
                        ))}
                      </div>
                    </TableCell>
                    <TableCell className="whitespace-normal">
                      {hook.enabled ? (
                        <Badge color="emerald" size="xs">
                          Enabled
                        </Badge>
                      ) : (
                        <Badge color="gray" size="xs">
                          Disabled
                        </Badge>
                      )}
                      {hook.disabled_reason ? <p className="mt-1 max-w-xs text-tremor-label text-tremor-content">{hook.disabled_reason}</p> : null}
                      {hook.failing_since ? (
                        <p className="mt-1 text-tremor-label text-amber-700">
                          Failing since <Timestamp iso={hook.failing_since} withTime />
                        </p>
                      ) : null}
                    </TableCell>
                    <TableCell>
                      <Timestamp iso={hook.created_at} />
                    </TableCell>
                    <TableCell className="pr-6 text-right">
                      <div className="flex flex-wrap items-start justify-end gap-2">
                        <EndpointAction intent="webhook-test" id={hook.id} csrf={csrf} pendingLabel="Sending…">
                          Send test event<span className="sr-only"> to {hook.url}</span>
                        </EndpointAction>
                        <EndpointAction intent={hook.enabled ? 'webhook-disable' : 'webhook-enable'} id={hook.id} csrf={csrf} pendingLabel="Saving…">
                          {hook.enabled ? 'Disable' : 'Enable'}
                          <span className="sr-only"> {hook.url}</span>
                        </EndpointAction>
                        <Link to={`${dashboardPath('settings')}/webhooks/${hook.id}`} className="rounded-tremor-small px-2.5 py-1 text-tremor-label font-medium text-tremor-brand ring-1 ring-tremor-ring hover:bg-tremor-background-subtle">
                          Deliveries<span className="sr-only"> to {hook.url}</span>
                        </Link>
                        <ConfirmAction
                          label="Delete"
                          confirmLabel="Delete endpoint"
                          pendingLabel="Deleting…"
                          consequence="Pending deliveries to it stop. Its delivery log is kept."
                          subject={hook.url}
                          intent="webhook-delete"
                          id={hook.id}
                          csrf={csrf}
                          width="w-52"
                        />
                      </div>
                      {own?.test ? <TestOutcome test={own.test} /> : null}
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </DataTable>
        </div>
      )}
      <div className="border-t border-tremor-border pt-6">
        <CreateWebhookForm csrf={csrf} result={result} />
      </div>
    </div>
  );
}

function EmailLog({ emails }: { emails: LoaderData['emails'] }) {
  if (emails.length === 0) {
    return (
      <p className="text-tremor-default text-tremor-content" data-testid="no-emails">
        No emails yet. Alert emails appear here as soon as they are created, with whether they were sent.
      </p>
    );
  }
  return (
    <div className="-mx-6 overflow-x-auto">
      <DataTable aria-label="Recent emails">
        <TableHead>
          <TableRow>
            <TableHeaderCell className="pl-6">Created</TableHeaderCell>
            <TableHeaderCell>To</TableHeaderCell>
            <TableHeaderCell>Subject</TableHeaderCell>
            <TableHeaderCell className="pr-6">Status</TableHeaderCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {emails.map((email) => (
            <TableRow key={email.id} data-testid="email-row" className="align-top">
              <TableCell className="pl-6">
                <Timestamp iso={email.created_at} withTime />
              </TableCell>
              <TableCell className="max-w-[16rem] whitespace-normal">
                <span className="block break-all text-tremor-content-strong">{email.to}</span>
                <span className="text-tremor-label capitalize text-tremor-content">{email.recipient}</span>
              </TableCell>
              <TableCell className="min-w-[14rem] whitespace-normal">
                {email.alert_id ? (
                  <Link to={`${dashboardPath('alerts')}/${email.alert_id}`} className={linkClass}>
                    {email.subject}
                  </Link>
                ) : (
                  email.subject
                )}
              </TableCell>
              <TableCell className="max-w-xs whitespace-normal pr-6">
                <DeliveryStatusBadge channel="email" status={email.status} />
                {email.error ? (
                  <p className="mt-1 break-words text-tremor-label text-red-700">{email.error}</p>
                ) : email.sent_at ? (
                  <p className="mt-1 text-tremor-label text-tremor-content">
                    <Timestamp iso={email.sent_at} withTime />
                  </p>
                ) : null}
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </DataTable>
    </div>
  );
}

function QueueHealth({ queues }: { queues: LoaderData['queues'] }) {
  if (queues.length === 0) return <p className="text-tremor-default text-tremor-content">No job queues are registered yet.</p>;
  const largest = Math.max(1, ...queues.map((q) => q.queued + q.active + q.failed));
  return (
    <div className="-mx-6 overflow-x-auto">
      <DataTable aria-label="Job queues">
        <TableHead>
          <TableRow>
            <TableHeaderCell className="pl-6">Queue</TableHeaderCell>
            <TableHeaderCell className="text-right">Queued</TableHeaderCell>
            <TableHeaderCell className="text-right">Active</TableHeaderCell>
            <TableHeaderCell className="text-right">Failed</TableHeaderCell>
            <TableHeaderCell className="w-1/3 pr-6">
              <span className="sr-only">Backlog</span>
            </TableHeaderCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {queues.map((queue) => (
            <TableRow key={queue.name} data-testid="queue-row">
              <TableCell className="pl-6 font-mono text-[13px] text-tremor-content-strong">{queue.name}</TableCell>
              <TableCell className="text-right tabular-nums">{queue.queued}</TableCell>
              <TableCell className="text-right tabular-nums">{queue.active}</TableCell>
              <TableCell className={`text-right tabular-nums ${queue.failed > 0 ? 'font-semibold text-red-600' : ''}`}>{queue.failed}</TableCell>
              <TableCell className="pr-6">
                {/* Decorative: the figures are in the cells before it. */}
                <div aria-hidden="true" className="flex h-2 overflow-hidden rounded-full bg-tremor-background-subtle">
                  <div className="bg-tremor-brand" style={{ width: `${(queue.queued / largest) * 100}%` }} />
                  <div className="bg-emerald-500" style={{ width: `${(queue.active / largest) * 100}%` }} />
                  <div className="bg-red-500" style={{ width: `${(queue.failed / largest) * 100}%` }} />
                </div>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </DataTable>
    </div>
  );
}

const SECTIONS = [
  { id: 'defaults', label: 'Defaults' },
  { id: 'account', label: 'Password and sessions' },
  { id: 'alert-emails', label: 'Alert emails' },
  { id: 'webhooks', label: 'Webhooks' },
  { id: 'emails', label: 'Email log' },
  { id: 'queues', label: 'Job queues' },
] as const;

export default function SettingsPage() {
  const { settings, alertSettings, webhooks, emails, queues, planNames } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const { csrf, creator } = useDashboard();
  return (
    <>
      <PageHeader title="Settings" description="Defaults for your account, who hears about alerts and how, and the health of the jobs that deliver them." />
      <nav aria-label="Settings sections" className="-mt-4 mb-6">
        <ul className="flex flex-wrap gap-x-4 gap-y-1 text-tremor-default">
          {SECTIONS.map((section) => (
            <li key={section.id}>
              <a href={`#${section.id}`} className={linkClass}>
                {section.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <div className="space-y-8">
        <Section id="defaults" title="Defaults" description="How customers and events your apps report are treated before you say otherwise.">
          <DefaultsForm settings={settings} planNames={planNames} csrf={csrf} result={result} />
        </Section>
        <Section
          id="account"
          title="Password and sessions"
          description="Change your dashboard password, or sign out every other browser signed in to this account. API keys are not affected: revoke them on the API keys page."
        >
          <AccountSecurity csrf={csrf} result={result} />
        </Section>
        <Section id="alert-emails" title="Alert emails" description="Which alerts are emailed to you, and whether your customers hear about their own usage.">
          <AlertEmailsForm alertSettings={alertSettings} accountEmail={creator.email} csrf={csrf} result={result} />
        </Section>
        <Section
          id="webhooks"
          title="Webhooks"
          description="Endpoints that receive alerts as signed POSTs (Standard Webhooks). An endpoint that keeps failing is disabled, and you are emailed."
        >
          <WebhooksSection webhooks={webhooks} csrf={csrf} result={result} />
        </Section>
        <Section
          id="emails"
          title="Email log"
          description={
            <>
              The last {RECENT_EMAILS} emails and whether they went out. <strong>Outbox</strong>: no SMTP server is configured (<code>SMTP_URL</code>), so emails are kept
              here instead of being sent. <strong>Pending</strong>: waiting or being retried after an SMTP error.
            </>
          }
        >
          <EmailLog emails={emails} />
        </Section>
        <Section
          id="queues"
          title="Job queues"
          description="Your background work waiting, running or failed: rollups behind the charts, alert notifications, emails, webhooks, Stripe reports. A growing queue or failed jobs mean they are late. (The whole service’s queues are on /metrics, for its operator.)"
        >
          <QueueHealth queues={queues} />
        </Section>
      </div>
    </>
  );
}
