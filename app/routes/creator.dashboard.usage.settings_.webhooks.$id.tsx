import { json, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { Badge, Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import { DeliveryStatusBadge } from '~/components/alert-badges';
import { Button } from '~/components/buttons';
import { SelectField } from '~/components/choice-fields';
import { OneTimeSecret } from '~/components/copy-button';
import { CsrfField } from '~/components/csrf-field';
import { DataTable } from '~/components/data-table';
import { FormAlert } from '~/components/form-field';
import { WarningNotice } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import { Timestamp } from '~/components/timestamp';
import { requireCreator } from '~/lib/caller.server';
import { requireSessionCsrf } from '~/lib/csrf.server';
import { dashboardPath, useDashboard } from '~/lib/dashboard';
import { formErrorHeaders, toFormError } from '~/lib/errors.server';
import { readFormData } from '~/lib/form.server';
import { formAlertMessage, formText, type FormFailure } from '~/lib/form';
import { pageHeaders } from '~/lib/page-headers';
import { keysetPage } from '~/lib/paging';
import { linkClass } from '~/components/styles';

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: data ? `Deliveries to ${data.endpoint.url} · Staryer Usage` : 'Webhook deliveries · Staryer Usage' }];

export const headers = pageHeaders;

const PAGE_SIZE = 50;

/** Not ours, deleted, or not an id at all: the same answer, as the API gives (404). */
function notFoundOr(error: unknown): never {
  if ([404, 422].includes(toFormError(error).status)) throw json({ message: 'There is no webhook endpoint at this address.' }, { status: 404 });
  throw error;
}

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const id = params.id ?? '';
  const search = new URL(request.url).searchParams;
  const before = search.get('before') ?? undefined;
  const beforeId = search.get('before_id') ?? undefined;
  const endpoint = await caller.webhooks.get({ id }).catch(notFoundOr);
  const cursor = { ...(before ? { before } : {}), ...(beforeId ? { before_id: beforeId } : {}) };
  // One more than a page: whether older messages exist (keysetPage).
  const { messages: fetched } = await caller.webhooks.deliveries({ id, limit: PAGE_SIZE + 1, ...cursor }).catch((error: unknown) => {
    // A hand-edited `before` or `before_id`: show the newest instead.
    if (toFormError(error).status === 422) return caller.webhooks.deliveries({ id, limit: PAGE_SIZE + 1 });
    throw error;
  });
  const { rows: messages, older } = keysetPage(fetched, PAGE_SIZE);
  return json(
    {
      endpoint,
      messages,
      older,
      paged: Boolean(before),
    },
    { headers: { 'Cache-Control': 'private, no-store' } },
  );
}

type ActionResult = {
  intent: 'replay' | 'test' | 'rotate';
  /** A rotation's new secret: in this response only. */
  rotated: { secret: string; previousExpiresAt: string | null } | null;
  messageId: string | null;
  attempt: { statusCode: number | null; latencyMs: number; success: boolean; error: string | null } | null;
  formError: FormFailure | null;
};

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const formData = await readFormData(request);
  requireSessionCsrf(request, session, formData);
  const intent = formText(formData, 'intent');
  if (intent !== 'replay' && intent !== 'test' && intent !== 'rotate') throw json({ message: 'This form does not exist.' }, { status: 400 });
  const result: ActionResult = { intent, rotated: null, messageId: null, attempt: null, formError: null };
  try {
    if (intent === 'rotate') {
      const hours = Number(formText(formData, 'previous_secret_expires_in_hours') || '24');
      const rotated = await caller.webhooks.rotateSecret({ id: params.id ?? '', rotation: { previous_secret_expires_in_hours: hours } });
      result.rotated = { secret: rotated.secret, previousExpiresAt: rotated.previous_secret_expires_at };
      // The secret is in this response only: no cache may keep it.
      return json(result, { headers: { 'Cache-Control': 'no-store' } });
    }
    const sent =
      intent === 'replay' ? await caller.webhooks.replay({ message_id: formText(formData, 'message_id') }) : await caller.webhooks.sendTest({ id: params.id ?? '' });
    result.messageId = sent.message_id;
    result.attempt = { statusCode: sent.status_code, latencyMs: sent.latency_ms, success: sent.success, error: sent.error };
    return json(result);
  } catch (error) {
    const formError = toFormError(error);
    result.formError = { status: formError.status, message: formAlertMessage(formError), fields: formError.fields };
    return json(result, { status: formError.status, headers: formErrorHeaders(formError) });
  }
}

function AttemptOutcome({ attempt, label }: { attempt: NonNullable<ActionResult['attempt']>; label: string }) {
  return (
    <div
      role="status"
      data-testid="attempt-result"
      className={`rounded-tremor-default border px-4 py-3 text-tremor-default ${attempt.success ? 'border-emerald-200 bg-emerald-50 text-emerald-800' : 'border-red-200 bg-red-50 text-red-800'}`}
    >
      {label}: {attempt.statusCode === null ? 'no answer' : `HTTP ${attempt.statusCode}`} in {attempt.latencyMs} ms{attempt.error ? ` — ${attempt.error}` : ''}
    </div>
  );
}

const OVERLAPS = [
  { value: '24', label: 'Keep signing with the old secret for 24 hours' },
  { value: '1', label: 'Keep signing with the old secret for 1 hour' },
  { value: '168', label: 'Keep signing with the old secret for 7 days' },
  { value: '0', label: 'Stop the old secret now (it leaked)' },
];

/** A new signing secret; meanwhile messages carry a signature by the old one too, so the receiver can switch over. */
function RotateSecretForm({ csrf, pending, previousExpiresAt }: { csrf: string; pending: boolean; previousExpiresAt: string | null }) {
  const overlapping = previousExpiresAt !== null && new Date(previousExpiresAt).getTime() > Date.now();
  return (
    <Card>
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Signing secret</h2>
      <p className="mt-1 text-tremor-default text-tremor-content">
        A new secret replaces the current one. Until the time you choose, every message carries two signatures in <code>webhook-signature</code>, by the new secret and
        the old one: a receiver verifying with either accepts it, so you can update it without losing a message.
        {overlapping ? (
          <span data-testid="previous-secret-until">
            {' '}
            The secret replaced last still signs until <Timestamp iso={previousExpiresAt} withTime />.
          </span>
        ) : null}
      </p>
      <Form method="post" className="mt-4 flex flex-col gap-3 sm:flex-row sm:items-end">
        <CsrfField token={csrf} />
        <input type="hidden" name="intent" value="rotate" />
        <SelectField label="The old secret" name="previous_secret_expires_in_hours" options={OVERLAPS} defaultValue="24" className="sm:w-96" idPrefix="rotate" />
        <Button variant="secondary" pending={pending} pendingLabel="Rotating…">
          Rotate secret
        </Button>
      </Form>
    </Card>
  );
}

function RotatedSecret({ rotated, url }: { rotated: NonNullable<ActionResult['rotated']>; url: string }) {
  return (
    <WarningNotice titleId="rotated-secret-title" title={`New signing secret for ${url}`} focusIfLost={rotated}>
      <p>
        {rotated.previousExpiresAt ? (
          <>
            Messages are signed with it and with the old secret until <Timestamp iso={rotated.previousExpiresAt} withTime />: switch your receiver to it before then.
          </>
        ) : (
          <>Messages are signed with it only, from now on: the old secret no longer verifies.</>
        )}{' '}
        Copy it now — <strong>it will not be shown again</strong>.
      </p>
      <OneTimeSecret value={rotated.secret} testId="rotated-webhook-secret" copyLabel="Copy secret" />
    </WarningNotice>
  );
}

export default function WebhookDeliveriesPage() {
  const { endpoint, messages, older, paged } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const { csrf } = useDashboard();
  const navigation = useNavigation();
  const pending = navigation.state === 'submitting' ? navigation.formData : undefined;
  return (
    <>
      <Link to={`${dashboardPath('settings')}#webhooks`} className={`mb-4 inline-block text-tremor-default ${linkClass}`}>
        ← Webhook endpoints
      </Link>
      <PageHeader
        title="Webhook deliveries"
        description={
          <>
            Every message sent to <span className="break-all font-mono text-tremor-content-strong">{endpoint.url}</span>, with each attempt. A replay sends the same message
            again now, with the same <code>webhook-id</code>.
          </>
        }
      >
        <Form method="post">
          <CsrfField token={csrf} />
          <input type="hidden" name="intent" value="test" />
          <Button variant="secondary" pending={pending?.get('intent') === 'test'} pendingLabel="Sending…">
            Send test event
          </Button>
        </Form>
      </PageHeader>
      <div className="space-y-6">
        <div className="flex flex-wrap items-center gap-2 text-tremor-default text-tremor-content">
          {endpoint.enabled ? (
            <Badge color="emerald" size="xs">
              Enabled
            </Badge>
          ) : (
            <Badge color="gray" size="xs">
              Disabled
            </Badge>
          )}
          {endpoint.disabled_reason ? <span>{endpoint.disabled_reason}</span> : null}
          <span>Events: {endpoint.events.join(', ')}</span>
        </div>
        {result?.rotated ? <RotatedSecret rotated={result.rotated} url={endpoint.url} /> : null}
        <RotateSecretForm csrf={csrf} pending={pending?.get('intent') === 'rotate'} previousExpiresAt={endpoint.previous_secret_expires_at} />
        {result?.attempt ? <AttemptOutcome attempt={result.attempt} label={result.intent === 'test' ? 'Test event' : `Replay of ${result.messageId ?? 'the message'}`} /> : null}
        {result?.formError ? <FormAlert>{result.formError.message}</FormAlert> : null}
        <Card className="p-0">
          {messages.length === 0 ? (
            <p className="px-6 py-8 text-tremor-default text-tremor-content" data-testid="no-deliveries">
              {paged ? 'No older messages.' : 'Nothing sent to this endpoint yet. Alerts it subscribes to are delivered here within seconds; a test event shows how it answers.'}
            </p>
          ) : (
            <DataTable aria-label="Webhook messages">
              <TableHead>
                <TableRow>
                  <TableHeaderCell className="pl-6">Message</TableHeaderCell>
                  <TableHeaderCell>Created</TableHeaderCell>
                  <TableHeaderCell>Status</TableHeaderCell>
                  <TableHeaderCell>Attempts</TableHeaderCell>
                  <TableHeaderCell className="pr-6 text-right">
                    <span className="sr-only">Actions</span>
                  </TableHeaderCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {messages.map((message) => {
                  const latest = message.attempts.at(-1);
                  return (
                    <TableRow key={message.id} data-testid="webhook-message-row" data-message-id={message.id} className="align-top">
                      <TableCell className="pl-6">
                        <span className="font-mono text-[13px] text-tremor-content-strong">{message.event_type}</span>
                        {message.test ? (
                          <span className="ml-2 inline-flex">
                            <Badge color="violet" size="xs">
                              test
                            </Badge>
                          </span>
                        ) : null}
                        <code className="mt-1 block max-w-[16rem] truncate font-mono text-[12px] text-tremor-content" title={message.id}>
                          {message.id}
                        </code>
                        {message.alert_id ? (
                          <Link to={`${dashboardPath('alerts')}/${message.alert_id}`} className={`text-tremor-label ${linkClass}`}>
                            Its alert
                          </Link>
                        ) : null}
                      </TableCell>
                      <TableCell>
                        <Timestamp iso={message.created_at} withTime />
                      </TableCell>
                      <TableCell className="whitespace-normal">
                        <DeliveryStatusBadge channel="webhook" status={message.status} />
                        <p className="mt-1 text-tremor-label text-tremor-content">
                          {message.delivered_at ? (
                            <Timestamp iso={message.delivered_at} withTime />
                          ) : message.next_attempt_at ? (
                            <>
                              Next try <Timestamp iso={message.next_attempt_at} withTime />
                            </>
                          ) : message.status === 'failed' && message.attempts.length === 0 ? (
                            // Failed without an attempt: given up when the endpoint was disabled, or no
                            // longer took this event type when its turn came.
                            <span data-testid="webhook-message-not-sent">Not sent: the endpoint was disabled, or no longer takes this event type. Replay it to send it now.</span>
                          ) : null}
                        </p>
                      </TableCell>
                      <TableCell className="min-w-[12rem] whitespace-normal">
                        {message.attempts.length === 0 ? (
                          <span className="text-tremor-content-subtle">None yet</span>
                        ) : (
                          <details>
                            <summary className="cursor-pointer text-tremor-default">
                              {message.attempt_count} · last {latest?.status_code ?? 'no answer'}
                              {latest ? ` in ${latest.latency_ms} ms` : ''}
                            </summary>
                            <ol className="mt-2 space-y-2">
                              {message.attempts.map((attempt) => (
                                <li key={attempt.id} className="text-tremor-label">
                                  <Timestamp iso={attempt.attempted_at} withTime /> —{' '}
                                  <span className={attempt.success ? 'text-emerald-700' : 'text-red-700'}>{attempt.status_code ?? 'no answer'}</span> in {attempt.latency_ms} ms
                                  {attempt.error ? <span className="block text-red-700">{attempt.error}</span> : null}
                                  {attempt.response_snippet ? (
                                    <code className="mt-1 block max-w-md truncate rounded bg-tremor-background-subtle px-1.5 py-0.5 font-mono text-[12px]">{attempt.response_snippet}</code>
                                  ) : null}
                                </li>
                              ))}
                            </ol>
                          </details>
                        )}
                      </TableCell>
                      <TableCell className="pr-6 text-right">
                        <Form method="post" className="inline">
                          <CsrfField token={csrf} />
                          <input type="hidden" name="intent" value="replay" />
                          <input type="hidden" name="message_id" value={message.id} />
                          <Button variant="small" pending={pending?.get('intent') === 'replay' && pending.get('message_id') === message.id} pendingLabel="Replaying…">
                            Replay<span className="sr-only"> {message.id}</span>
                          </Button>
                        </Form>
                      </TableCell>
                    </TableRow>
                  );
                })}
              </TableBody>
            </DataTable>
          )}
          {older ? (
            <div className="border-t border-tremor-border px-6 py-3 text-right">
              <Link to={`?${new URLSearchParams(older).toString()}`} className={linkClass}>
                Older messages →
              </Link>
            </div>
          ) : null}
        </Card>
      </div>
    </>
  );
}
