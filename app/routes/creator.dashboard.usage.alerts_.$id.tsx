import { json, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { ReactNode } from 'react';
import { ALERT_KINDS, AlertKindBadge, AlertStatusBadge, DeliveryStatusBadge, formatThreshold } from '~/components/alert-badges';
import { Button } from '~/components/buttons';
import { CsrfField } from '~/components/csrf-field';
import { DataTable } from '~/components/data-table';
import { FormAlert } from '~/components/form-field';
import { SuccessNotice } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import { Period, Timestamp } from '~/components/timestamp';
import { alertAction } from '~/lib/alert-actions.server';
import { requireCreator } from '~/lib/caller.server';
import { dashboardPath, useDashboard } from '~/lib/dashboard';
import { toFormError } from '~/lib/errors.server';
import { pageHeaders } from '~/lib/page-headers';
import { formatDecimal } from '~/lib/numbers';
import { linkClass } from '~/components/styles';

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: data ? `${ALERT_KINDS[data.alert.kind].label} · ${data.alert.user_id} · Alerts · Staryer Usage` : 'Alert · Staryer Usage' },
];

export const headers = pageHeaders;

export const action = alertAction;

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const [alert, { webhooks }] = await Promise.all([
    caller.alerts.get({ id: params.id ?? '' }).catch((error: unknown) => {
      // Not ours, gone, or not an id at all: the same answer, as the API gives (404).
      if ([404, 422].includes(toFormError(error).status)) throw json({ message: 'There is no alert at this address.' }, { status: 404 });
      throw error;
    }),
    caller.webhooks.list(),
  ]);
  const endpoints = Object.fromEntries(webhooks.map((w) => [w.id, w.url]));
  return json({ alert, endpoints }, { headers: { 'Cache-Control': 'private, no-store' } });
}

/** "dashboard:<creator id>" or "api_key:<prefix>", as people read it. */
function describeActor(by: string | null): string {
  if (!by) return '';
  if (by.startsWith('dashboard:')) return 'in the dashboard';
  if (by.startsWith('api_key:')) return `with API key ${by.slice('api_key:'.length)}`;
  return `by ${by}`;
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <dt className="text-tremor-label font-medium text-tremor-content">{label}</dt>
      <dd className="mt-1 text-tremor-default text-tremor-content-strong">{children}</dd>
    </div>
  );
}

export default function AlertDetailPage() {
  const { alert, endpoints } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const { csrf } = useDashboard();
  const navigation = useNavigation();
  const pendingIntent = navigation.state === 'submitting' ? navigation.formData?.get('intent') : null;
  const emails = alert.deliveries.filter((d) => d.channel === 'email');
  const messages = alert.deliveries.filter((d) => d.channel === 'webhook');
  return (
    <>
      <Link to={dashboardPath('alerts')} className={`mb-4 inline-block text-tremor-default ${linkClass}`}>
        ← All alerts
      </Link>
      <PageHeader
        title={`${ALERT_KINDS[alert.kind].label}: ${alert.user_id}`}
        description={
          <>
            On <span className="font-mono">{alert.event_name}</span>. {ALERT_KINDS[alert.kind].description}
          </>
        }
      />
      <div className="space-y-6">
        {result?.ok ? (
          <SuccessNotice focusIfLost={result}>
            {result.intent === 'acknowledge'
              ? 'Alert acknowledged.'
              : result.intent === 'mute'
                ? `Notifications muted for ${alert.user_id} on ${alert.event_name}. Alerts are still recorded.`
                : `Notifications unmuted for ${alert.user_id} on ${alert.event_name}.`}
          </SuccessNotice>
        ) : null}
        {result?.formError ? <FormAlert>{result.formError.message}</FormAlert> : null}

        <Card>
          <dl className="grid gap-6 sm:grid-cols-2 lg:grid-cols-4">
            <Fact label="Status">
              <AlertStatusBadge status={alert.status} />
            </Fact>
            <Fact label="Kind">
              <AlertKindBadge kind={alert.kind} />
            </Fact>
            <Fact label="Used / limit">
              <span className="tabular-nums" data-testid="alert-used">
                {formatDecimal(alert.used)} / {formatDecimal(alert.limit)} {alert.unit_name}
              </span>
            </Fact>
            <Fact label="Threshold">{formatThreshold(alert.threshold)} of the limit</Fact>
            <Fact label="Billing period">
              <Period start={alert.period_start} end={alert.period_end} />
            </Fact>
            <Fact label="Raised">
              <Timestamp iso={alert.created_at} withTime />
            </Fact>
            <Fact label="Acknowledged">
              {alert.acknowledged_at ? (
                <span data-testid="alert-acknowledged">
                  <Timestamp iso={alert.acknowledged_at} withTime /> {describeActor(alert.acknowledged_by)}
                </span>
              ) : (
                'Not yet'
              )}
            </Fact>
            <Fact label="Resolved">{alert.resolved_at ? <Timestamp iso={alert.resolved_at} withTime /> : 'When the period ends'}</Fact>
          </dl>
          <div className="mt-6 flex flex-wrap items-center gap-3 border-t border-tremor-border pt-5">
            {alert.status === 'open' ? (
              <Form method="post">
                <CsrfField token={csrf} />
                <input type="hidden" name="intent" value="acknowledge" />
                <input type="hidden" name="id" value={alert.id} />
                <Button pending={pendingIntent === 'acknowledge'} pendingLabel="Acknowledging…">
                  Acknowledge
                </Button>
              </Form>
            ) : null}
            <Form method="post" className="flex flex-wrap gap-3" aria-label={`Notifications for ${alert.user_id} on ${alert.event_name}`}>
              <CsrfField token={csrf} />
              <input type="hidden" name="user_id" value={alert.user_id} />
              <input type="hidden" name="meter_id" value={alert.meter_id} />
              <Button name="intent" value="mute" variant="secondary" pending={pendingIntent === 'mute'}>
                Mute {alert.user_id} on this meter
              </Button>
              <Button name="intent" value="unmute" variant="secondary" pending={pendingIntent === 'unmute'}>
                Unmute
              </Button>
            </Form>
            <p className="text-tremor-label text-tremor-content">Muting stops emails and webhooks for this customer and meter; alerts are still recorded.</p>
          </div>
        </Card>

        <Card className="p-0">
          <div className="px-6 pt-6">
            <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Delivery log</h2>
            <p className="mt-1 text-tremor-default text-tremor-content">
              Who was told, and whether it arrived. Deliveries are retried with backoff; reload to see the latest.
            </p>
          </div>
          {alert.deliveries.length === 0 ? (
            <p className="px-6 pb-8 pt-4 text-tremor-default text-tremor-content" data-testid="no-deliveries">
              Nothing was sent for this alert: its kind is not one you email yourself about, your customers are not emailed, no enabled webhook endpoint subscribes to it, or
              notifications for this customer and meter are muted. Notifications are created within seconds of the alert.{' '}
              <Link to={dashboardPath('settings')} className={linkClass}>
                Alert settings
              </Link>
            </p>
          ) : (
            <div className="space-y-6 pb-4 pt-4">
              {emails.length > 0 ? (
                <section aria-labelledby="emails-title">
                  <h3 id="emails-title" className="px-6 text-tremor-default font-semibold text-tremor-content-strong">
                    Emails
                  </h3>
                  <DataTable className="mt-2" aria-label="Emails of this alert">
                    <TableHead>
                      <TableRow>
                        <TableHeaderCell className="pl-6">Recipient</TableHeaderCell>
                        <TableHeaderCell>To</TableHeaderCell>
                        <TableHeaderCell>Status</TableHeaderCell>
                        <TableHeaderCell className="pr-6">Created</TableHeaderCell>
                      </TableRow>
                    </TableHead>
                    <TableBody>
                      {emails.map((email) => (
                        <TableRow key={email.id} data-testid="email-delivery-row">
                          <TableCell className="pl-6 capitalize">{email.recipient}</TableCell>
                          <TableCell className="max-w-xs whitespace-normal break-all">{email.to}</TableCell>
                          <TableCell className="whitespace-normal">
                            <DeliveryStatusBadge channel="email" status={email.status} />
                            {email.error ? <p className="mt-1 max-w-xs break-words text-tremor-label text-red-700">{email.error}</p> : null}
                          </TableCell>
                          <TableCell className="pr-6">
                            <Timestamp iso={email.created_at} withTime />
                          </TableCell>
                        </TableRow>
                      ))}
                    </TableBody>
                  </DataTable>
                </section>
              ) : null}
              {messages.length > 0 ? (
                <section aria-labelledby="webhooks-title">
                  <h3 id="webhooks-title" className="px-6 text-tremor-default font-semibold text-tremor-content-strong">
                    Webhook messages
                  </h3>
                  <DataTable className="mt-2" aria-label="Webhook messages of this alert">
                    <TableHead>
                      <TableRow>
                        <TableHeaderCell className="pl-6">Endpoint</TableHeaderCell>
                        <TableHeaderCell>Status</TableHeaderCell>
                        <TableHeaderCell className="text-right">Attempts</TableHeaderCell>
                        <TableHeaderCell className="text-right">Last status code</TableHeaderCell>
                        <TableHeaderCell className="pr-6">Message id</TableHeaderCell>
                      </TableRow>
                    </TableHead>
                    <TableBody>
                      {messages.map((message) => {
                        const url = message.endpoint_id ? endpoints[message.endpoint_id] : undefined;
                        return (
                          <TableRow key={message.id} data-testid="webhook-delivery-row">
                            <TableCell className="max-w-xs whitespace-normal break-all pl-6">
                              {url && message.endpoint_id ? (
                                <Link to={`${dashboardPath('settings')}/webhooks/${message.endpoint_id}`} className={linkClass} title="This endpoint’s deliveries">
                                  {url}
                                </Link>
                              ) : (
                                <span className="text-tremor-content-subtle">Deleted endpoint</span>
                              )}
                            </TableCell>
                            <TableCell className="whitespace-normal">
                              <DeliveryStatusBadge channel="webhook" status={message.status} />
                              {message.error ? <p className="mt-1 max-w-xs break-words text-tremor-label text-red-700">{message.error}</p> : null}
                            </TableCell>
                            <TableCell className="text-right tabular-nums">{message.attempts ?? 0}</TableCell>
                            <TableCell className="text-right tabular-nums" data-testid="webhook-status-code">
                              {message.last_status_code ?? '—'}
                            </TableCell>
                            <TableCell className="pr-6">
                              <code className="block max-w-[10rem] truncate font-mono text-[12px]" title={message.id}>
                                {message.id}
                              </code>
                            </TableCell>
                          </TableRow>
                        );
                      })}
                    </TableBody>
                  </DataTable>
                </section>
              ) : null}
            </div>
          )}
        </Card>
      </div>
    </>
  );
}
