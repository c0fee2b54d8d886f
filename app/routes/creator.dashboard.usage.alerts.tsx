import { json, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { TAlert, TListAlertsInput } from '../../server/schemas/alerts';
import {
  ALERT_KINDS,
  ALERT_KIND_NAMES,
  ALERT_STATUSES,
  ALERT_STATUS_NAMES,
  AlertKindBadge,
  AlertStatusBadge,
  formatThreshold,
  isAlertKind,
  isAlertStatus,
} from '~/components/alert-badges';
import { Button, buttonClassName } from '~/components/buttons';
import { SelectField } from '~/components/choice-fields';
import { CsrfField } from '~/components/csrf-field';
import { DataTable } from '~/components/data-table';
import { FormAlert, TextField, inputClassName } from '~/components/form-field';
import { SuccessNotice } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import { Period, Timestamp } from '~/components/timestamp';
import { alertAction } from '~/lib/alert-actions.server';
import { requireCreator } from '~/lib/caller.server';
import { dashboardPath, useDashboard } from '~/lib/dashboard';
import { toFormError } from '~/lib/errors.server';
import { fieldMessage } from '~/lib/form';
import { pageHeaders } from '~/lib/page-headers';
import { formatDecimal } from '~/lib/numbers';
import { keysetPage } from '~/lib/paging';
import { linkClass, codeClass as code } from '~/components/styles';

export const meta: MetaFunction = () => [{ title: 'Alerts · Staryer Usage' }];

export const headers = pageHeaders;

export const action = alertAction;

const PAGE_SIZE = 50;

/**
 * The filters of the URL (?status=&kind=&meter=&user_id=&before=&before_id=), so a filtered
 * list is a link to share. `before` + `before_id` are the page's cursor: the last alert shown.
 */
type Filters = { status: string; kind: string; meter: string; user_id: string; before: string; before_id: string };

function readFilters(params: URLSearchParams): Filters {
  const get = (name: string) => (params.get(name) ?? '').trim();
  // A user_id is taken as it is: spaces around it are part of some customers' ids (" padded " is not "padded").
  return { status: get('status'), kind: get('kind'), meter: get('meter'), user_id: (params.get('user_id') ?? '').trim() === '' ? '' : params.get('user_id')!, before: get('before'), before_id: get('before_id') };
}

/** Query-string names of the list input's fields, for the server's field errors. */
const FILTER_FIELDS: Record<string, keyof Filters> = { status: 'status', kind: 'kind', meter_id: 'meter', user_id: 'user_id', before: 'before', before_id: 'before_id' };

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const filters = readFilters(new URL(request.url).searchParams);
  const filterErrors: Partial<Record<keyof Filters, string>> = {};
  if (filters.status && !isAlertStatus(filters.status)) filterErrors.status = 'is not a status we know.';
  if (filters.kind && !isAlertKind(filters.kind)) filterErrors.kind = 'is not a kind of alert we know.';
  const input: TListAlertsInput = {
    // One more than a page: whether older alerts exist (keysetPage).
    limit: PAGE_SIZE + 1,
    ...(isAlertStatus(filters.status) ? { status: filters.status } : {}),
    ...(isAlertKind(filters.kind) ? { kind: filters.kind } : {}),
    ...(filters.meter ? { meter_id: filters.meter } : {}),
    ...(filters.user_id ? { user_id: filters.user_id } : {}),
    ...(filters.before ? { before: filters.before } : {}),
    ...(filters.before_id ? { before_id: filters.before_id } : {}),
  };

  const listAlerts = async (): Promise<TAlert[]> => {
    try {
      return (await caller.alerts.list(input)).alerts;
    } catch (error) {
      // A hand-edited link (a meter id that is not a UUID…): say which filter is wrong.
      const formError = toFormError(error);
      for (const [field, message] of Object.entries(formError.fields)) filterErrors[FILTER_FIELDS[field] ?? 'user_id'] = message;
      if (Object.keys(formError.fields).length === 0) filterErrors.user_id = formError.message;
      return [];
    }
  };
  const [{ meters }, fetched] = await Promise.all([caller.meters.list({ include_archived: true }), listAlerts()]);
  const { rows: alerts, older } = keysetPage(fetched, PAGE_SIZE);
  return json(
    {
      alerts,
      filters,
      filterErrors,
      filtered: Object.values(filters).some(Boolean),
      meters: meters.map((m) => ({ id: m.id, event_name: m.event_name, display_name: m.display_name, archived: m.status === 'archived' })),
      older,
    },
    { headers: { 'Cache-Control': 'private, no-store' } },
  );
}

type LoaderData = ReturnType<typeof useLoaderData<typeof loader>>;

function FilterForm({ filters, filterErrors, meters }: Pick<LoaderData, 'filters' | 'filterErrors' | 'meters'>) {
  return (
    <Form method="get" className="mb-6" aria-label="Filter alerts">
      {/* The key resets the fields when the URL changes (back/forward, "Clear"). */}
      <div key={JSON.stringify(filters)} className="grid gap-4 sm:grid-cols-2 lg:grid-cols-[repeat(4,minmax(0,1fr))_auto] lg:items-start">
        <SelectField
          label="Status"
          name="status"
          idPrefix="filter"
          defaultValue={isAlertStatus(filters.status) ? filters.status : ''}
          error={filterErrors.status}
          options={[{ value: '', label: 'Any status' }, ...ALERT_STATUS_NAMES.map((s) => ({ value: s, label: ALERT_STATUSES[s].label }))]}
        />
        <SelectField
          label="Kind"
          name="kind"
          idPrefix="filter"
          defaultValue={isAlertKind(filters.kind) ? filters.kind : ''}
          error={filterErrors.kind}
          options={[{ value: '', label: 'Any kind' }, ...ALERT_KIND_NAMES.map((k) => ({ value: k, label: ALERT_KINDS[k].label }))]}
        />
        <SelectField
          label="Meter"
          name="meter"
          idPrefix="filter"
          defaultValue={filters.meter}
          error={filterErrors.meter}
          options={[
            { value: '', label: 'Any meter' },
            ...meters.map((m) => ({ value: m.id, label: `${m.display_name} (${m.event_name})${m.archived ? ' — archived' : ''}` })),
            // A link to a meter that is not (or no longer) listed still shows what it filters on.
            ...(filters.meter && !meters.some((m) => m.id === filters.meter) ? [{ value: filters.meter, label: filters.meter }] : []),
          ]}
        />
        <div>
          <label htmlFor="filter-user_id" className="block text-tremor-default font-medium text-tremor-content-strong">
            Customer
          </label>
          <input
            id="filter-user_id"
            name="user_id"
            type="search"
            placeholder="user_id"
            maxLength={256}
            defaultValue={filters.user_id}
            aria-invalid={filterErrors.user_id ? true : undefined}
            aria-describedby={filterErrors.user_id ? 'filter-user_id-error' : undefined}
            className={`mt-1.5 ${inputClassName}`}
          />
          {filterErrors.user_id ? (
            <p id="filter-user_id-error" className="mt-1.5 text-tremor-label text-red-600">
              {fieldMessage('Customer', filterErrors.user_id)}
            </p>
          ) : null}
        </div>
        <div className="flex gap-2 lg:pt-7">
          <Button variant="secondary">Apply filters</Button>
          {Object.values(filters).some(Boolean) ? (
            <Link to={dashboardPath('alerts')} className={buttonClassName('secondary')}>
              Clear
            </Link>
          ) : null}
        </div>
      </div>
    </Form>
  );
}

function EmptyState() {
  return (
    <Card data-testid="alerts-empty">
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">No alerts yet</h2>
      <p className="mt-2 text-tremor-default text-tremor-content">
        An alert is raised the moment a customer’s usage in a billing period crosses a line you drew on their plan — once per customer, meter, period and kind, however many
        events cross it:
      </p>
      <ul className="mt-3 space-y-2 text-tremor-default text-tremor-content">
        {ALERT_KIND_NAMES.map((kind) => (
          <li key={kind} className="flex gap-3">
            <span className="w-40 shrink-0">
              <AlertKindBadge kind={kind} />
            </span>
            <span>{ALERT_KINDS[kind].description}</span>
          </li>
        ))}
      </ul>
      <p className="mt-4 text-tremor-default text-tremor-content">
        Give a plan limit a <code className={code}>soft_limit_threshold</code> (e.g. 0.8) or a <code className={code}>hard_cap</code> on the{' '}
        <Link to={dashboardPath('meters')} className={linkClass}>
          Meters
        </Link>{' '}
        page or with <code className={code}>POST /api/usage/meters</code>. Who hears about alerts — you by email, your customers, your webhook endpoints — is set in{' '}
        <Link to={dashboardPath('settings')} className={linkClass}>
          Settings
        </Link>
        .
      </p>
    </Card>
  );
}

function AcknowledgeButton({ id, csrf, label }: { id: string; csrf: string; label: string }) {
  const navigation = useNavigation();
  const pending = navigation.state === 'submitting' && navigation.formData?.get('intent') === 'acknowledge' && navigation.formData.get('id') === id;
  return (
    <Form method="post" className="inline">
      <CsrfField token={csrf} />
      <input type="hidden" name="intent" value="acknowledge" />
      <input type="hidden" name="id" value={id} />
      <Button variant="small" pending={pending} pendingLabel="Acknowledging…">
        Acknowledge<span className="sr-only"> {label}</span>
      </Button>
    </Form>
  );
}

function AlertsTable({ alerts, csrf }: { alerts: LoaderData['alerts']; csrf: string }) {
  return (
    <DataTable aria-label="Alerts">
      <TableHead>
        <TableRow>
          <TableHeaderCell className="pl-6">Customer · meter</TableHeaderCell>
          <TableHeaderCell>Alert</TableHeaderCell>
          <TableHeaderCell className="text-right">Used / limit</TableHeaderCell>
          {/* The period under the time raised, not a column of its own: the actions fit at 1280 px. */}
          <TableHeaderCell>Raised · period</TableHeaderCell>
          <TableHeaderCell className="pr-6 text-right">
            <span className="sr-only">Actions</span>
          </TableHeaderCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {alerts.map((alert) => {
          const label = `${ALERT_KINDS[alert.kind].label} for ${alert.user_id} on ${alert.event_name}`;
          return (
            <TableRow key={alert.id} data-testid="alert-row" data-alert-id={alert.id}>
              <TableCell className="pl-6">
                <Link to={`?user_id=${encodeURIComponent(alert.user_id)}`} className="block font-medium text-tremor-content-strong hover:text-tremor-brand" title="Only this customer’s alerts">
                  {alert.user_id}
                </Link>
                <Link to={`?meter=${alert.meter_id}`} className="font-mono text-[12px] hover:text-tremor-brand" title="Only this meter’s alerts">
                  {alert.event_name}
                </Link>
              </TableCell>
              <TableCell>
                <div className="flex flex-col items-start gap-1">
                  <AlertKindBadge kind={alert.kind} />
                  <AlertStatusBadge status={alert.status} />
                </div>
              </TableCell>
              <TableCell className="text-right tabular-nums">
                <span className="block text-tremor-content-strong">
                  {formatDecimal(alert.used)} / {formatDecimal(alert.limit)} <span className="text-tremor-label">{alert.unit_name}</span>
                </span>
                <span className="text-tremor-label">at {formatThreshold(alert.threshold)}</span>
              </TableCell>
              <TableCell>
                <span className="block">
                  <Timestamp iso={alert.created_at} withTime />
                </span>
                <span className="text-tremor-label">
                  period <Period start={alert.period_start} end={alert.period_end} />
                </span>
              </TableCell>
              <TableCell className="pr-6 text-right">
                <div className="flex flex-col items-end gap-1.5">
                  {alert.status === 'open' ? <AcknowledgeButton id={alert.id} csrf={csrf} label={label} /> : null}
                  <Link to={`${dashboardPath('alerts')}/${alert.id}`} className={buttonClassName('small')}>
                    Details<span className="sr-only"> of {label}</span>
                  </Link>
                </div>
              </TableCell>
            </TableRow>
          );
        })}
      </TableBody>
    </DataTable>
  );
}

function MuteForm({ meters, csrf, result }: { meters: LoaderData['meters']; csrf: string; result: ReturnType<typeof useActionData<typeof action>> }) {
  const failed = result && result.intent !== 'acknowledge' && result.formError ? result : null;
  const fields = failed?.formError?.fields ?? {};
  return (
    <Card>
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Mute a customer on a meter</h2>
      <p className="mt-1 text-tremor-default text-tremor-content">
        Muted pairs still raise and record alerts, but send no emails or webhooks — for a customer you are already talking to, or a test account.
      </p>
      <Form method="post" noValidate className="mt-4 space-y-4" aria-label="Mute or unmute notifications">
        <CsrfField token={csrf} />
        {failed?.formError ? <FormAlert>{failed.formError.message}</FormAlert> : null}
        <div className="grid gap-4 sm:grid-cols-2">
          <TextField label="Customer user_id" name="user_id" required maxLength={256} defaultValue={failed?.values.user_id} error={fields.user_id} />
          <SelectField
            label="Meter"
            name="meter_id"
            defaultValue={failed?.values.meter_id ?? ''}
            error={fields.meter_id ? 'Choose a meter.' : undefined}
            options={[{ value: '', label: 'Choose a meter…' }, ...meters.filter((m) => !m.archived).map((m) => ({ value: m.id, label: `${m.display_name} (${m.event_name})` }))]}
          />
        </div>
        <div className="flex gap-2">
          <Button name="intent" value="mute" variant="secondary">
            Mute notifications
          </Button>
          <Button name="intent" value="unmute" variant="secondary">
            Unmute
          </Button>
        </div>
      </Form>
    </Card>
  );
}

export default function AlertsPage() {
  const { alerts, filters, filterErrors, filtered, meters, older } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const { csrf } = useDashboard();
  const meterName = (id: string) => meters.find((m) => m.id === id)?.event_name ?? id;
  const olderParams = new URLSearchParams(Object.entries({ ...filters, ...older }).filter(([, value]) => value));
  return (
    <>
      <PageHeader
        title="Alerts"
        description="Customers crossing the soft limit, reaching a hard cap or starting overage, once per meter and billing period — and whether your team has seen them."
      />
      <div className="space-y-6">
        {result?.ok ? (
          <SuccessNotice focusIfLost={result}>
            {result.intent === 'acknowledge'
              ? 'Alert acknowledged.'
              : result.intent === 'mute'
                ? `Notifications muted for ${result.values.user_id} on ${meterName(result.values.meter_id)}. Alerts are still recorded.`
                : `Notifications unmuted for ${result.values.user_id} on ${meterName(result.values.meter_id)}.`}
          </SuccessNotice>
        ) : null}
        {result?.intent === 'acknowledge' && result.formError ? <FormAlert>{result.formError.message}</FormAlert> : null}
        {!filtered && alerts.length === 0 ? (
          <EmptyState />
        ) : (
          <Card className="p-0">
            <div className="px-6 pt-6">
              <FilterForm filters={filters} filterErrors={filterErrors} meters={meters} />
            </div>
            {alerts.length === 0 ? (
              <p className="px-6 pb-8 text-tremor-default text-tremor-content" data-testid="alerts-none-match">
                No alerts match these filters.{' '}
                <Link to={dashboardPath('alerts')} className={linkClass}>
                  Show all alerts
                </Link>
              </p>
            ) : (
              <AlertsTable alerts={alerts} csrf={csrf} />
            )}
            {older ? (
              <div className="border-t border-tremor-border px-6 py-3 text-right">
                <Link to={`?${olderParams.toString()}`} className={linkClass}>
                  Older alerts →
                </Link>
              </div>
            ) : null}
          </Card>
        )}
        <MuteForm meters={meters} csrf={csrf} result={result} />
      </div>
    </>
  );
}
