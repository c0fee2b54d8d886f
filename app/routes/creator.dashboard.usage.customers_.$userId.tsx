import { json, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Link, useActionData, useLoaderData } from '@remix-run/react';
import { BarChart, Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { ReactNode } from 'react';
import type { TCustomerEvents } from '../../server/schemas/customers';
import { ALERT_KINDS, AlertKindBadge, AlertStatusBadge, formatThreshold } from '~/components/alert-badges';
import { buttonClassName } from '~/components/buttons';
import { ChartTable } from '~/components/chart-table';
import { compactAxis } from '~/components/chart-tooltip';
import { EVENT_FILTER_NAMES, EventsExplorer, type EventFilters } from '~/components/customer-events';
import { ChangePlanForm } from '~/components/customer-plan-form';
import { HardCapBadge, LimitBar } from '~/components/customer-usage';
import { DataTable } from '~/components/data-table';
import { SuccessNotice } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import { Period, Timestamp } from '~/components/timestamp';
import { requireCreator } from '~/lib/caller.server';
import { requireSessionCsrf } from '~/lib/csrf.server';
import { customerPath, dashboardPath, useDashboard } from '~/lib/dashboard';
import { formErrorHeaders, toFormError } from '~/lib/errors.server';
import { formAlertMessage, formText } from '~/lib/form';
import { readFormData } from '~/lib/form.server';
import { formatDateTime, formatPeriodLabel, formatPeriodTick, unitFor } from '~/lib/format';
import { pageHeaders } from '~/lib/page-headers';
import { formatDecimal, formatMoney } from '~/lib/numbers';
import { planNamesOf, unlimitedPlanNote } from '~/lib/plans';
import { daySeries } from '~/lib/day-series';
import { linkClass } from '~/components/styles';

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: data ? `${data.detail.customer.user_id} · Top users · Staryer Usage` : 'Customer · Staryer Usage' }];

export const headers = pageHeaders;

const EVENTS_PAGE = 50;

/** Not this creator's customer (another creator's, or nobody's), or no valid id: the 404 page. */
function notFoundOr(error: unknown): never {
  if ([404, 422].includes(toFormError(error).status)) throw json({ message: 'There is no customer at this address.' }, { status: 404 });
  throw error;
}

/**
 * The customer's id from the URL's last segment, decoded once. Not `params.userId`: the
 * router decodes params but turns "%2F" back into "/", so a user id holding a literal "%2F"
 * (linked as "%252F") opened — and its plan form changed — the customer with "/" in its place.
 */
function userIdOf(request: Request): string {
  const segment = new URL(request.url).pathname.replace(/\/+$/, '').split('/').at(-1) ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    throw json({ message: 'There is no customer at this address.' }, { status: 404 });
  }
}

/** datetime-local ("2026-11-19T10:00") is read as UTC; `to` covers its whole minute. */
function toInstant(local: string, end: boolean): string {
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(local)) return `${local}:${end ? '59.999' : '00'}Z`;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(local)) return `${local}Z`;
  return local;
}

/** Field names of customers.events → the explorer's query-string names. */
const EVENT_FIELDS: Record<string, keyof EventFilters> = { meter_id: 'meter', from: 'from', to: 'to', property_key: 'key', property_value: 'value', cursor: 'cursor' };

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const userId = userIdOf(request);
  const search = new URL(request.url).searchParams;
  const filters = Object.fromEntries(EVENT_FILTER_NAMES.map((name) => [name, (search.get(name) ?? '').trim()])) as EventFilters;
  const chart = search.get('chart') ?? '';
  const detail = await caller.customers.get({ user_id: userId }).catch(notFoundOr);

  const eventErrors: Partial<Record<keyof EventFilters, string>> = {};
  const listEvents = async (): Promise<TCustomerEvents> => {
    const input = {
      user_id: userId,
      limit: EVENTS_PAGE,
      ...(filters.meter ? { meter_id: filters.meter } : {}),
      ...(filters.from ? { from: toInstant(filters.from, false) } : {}),
      ...(filters.to ? { to: toInstant(filters.to, true) } : {}),
      ...(filters.key || filters.value ? { property_key: filters.key || undefined, property_value: filters.value } : {}),
    };
    try {
      return await caller.customers.events({ ...input, ...(filters.cursor ? { cursor: filters.cursor } : {}) });
    } catch (error) {
      const formError = toFormError(error);
      if (formError.status !== 422) throw error;
      for (const [field, message] of Object.entries(formError.fields)) eventErrors[EVENT_FIELDS[field] ?? 'from'] = message;
      if (eventErrors.cursor) {
        eventErrors.cursor = 'This page link has expired; showing the newest events.';
        if (Object.keys(eventErrors).length === 1) return caller.customers.events(input);
      }
      return { events: [], next_cursor: null };
    }
  };
  const [{ meters }, { alerts }, events] = await Promise.all([
    caller.meters.list({ include_archived: true }),
    // One more than the card shows: whether there are more (then it links to all of them).
    caller.alerts.list({ user_id: userId, limit: ALERTS_SHOWN + 1 }),
    listEvents(),
  ]);
  return json(
    {
      detail,
      meters: meters.map((m) => ({ id: m.id, event_name: m.event_name, unit_name: m.unit_name, plan_limits: m.plan_limits, archived: m.status === 'archived' })),
      alerts,
      events,
      filters,
      eventErrors,
      chart,
      // The charts' "today", from the server's clock: the page and its hydration draw the same days.
      today: new Date().toISOString(),
    },
    { headers: { 'Cache-Control': 'private, no-store' } },
  );
}

export async function action({ request, context }: ActionFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const formData = await readFormData(request);
  requireSessionCsrf(request, session, formData);
  if (formText(formData, 'intent') !== 'plan') throw json({ message: 'This form does not exist.' }, { status: 400 });
  const userId = userIdOf(request);
  // Only a customer of this creator can be changed here (upsert would create one).
  await caller.customers.get({ user_id: userId }).catch(notFoundOr);
  const plan = formText(formData, 'plan_name').trim();
  try {
    const customer = await caller.customers.upsert({ user_id: userId, customer: { plan_name: plan || null } });
    return json({ ok: true as const, plan: customer.plan_name, error: null });
  } catch (error) {
    const formError = toFormError(error);
    return json({ ok: false as const, plan: null, error: { message: formAlertMessage(formError), fields: formError.fields } }, { status: formError.status, headers: formErrorHeaders(formError) });
  }
}

type LoaderData = ReturnType<typeof useLoaderData<typeof loader>>;

const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="min-w-0">
      <dt className="text-tremor-label font-medium text-tremor-content">{label}</dt>
      <dd className="mt-1 break-words text-tremor-default text-tremor-content-strong">{children}</dd>
    </div>
  );
}

/** "Day 31 of each month at 15:30 UTC" (on the last day of shorter months). */
function describeAnchor(anchor: string | null): string {
  if (!anchor) return 'Calendar months (UTC)';
  const at = new Date(anchor);
  const time = `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;
  return `Day ${at.getUTCDate()} of each month at ${time} UTC${at.getUTCDate() > 28 ? ' (or the month’s last day)' : ''}`;
}

function ProfileCard({ detail, meters }: { detail: LoaderData['detail']; meters: LoaderData['meters'] }) {
  const c = detail.customer;
  const planNote = unlimitedPlanNote(c.plan_name, planNamesOf(meters.filter((m) => !m.archived)), 'customer');
  const items = Object.entries(c.stripe_subscription_items);
  return (
    <Card>
      <dl className="grid gap-6 sm:grid-cols-2 lg:grid-cols-4">
        <Fact label="Plan">
          <span data-testid="customer-plan">{c.plan_name ?? 'No plan'}</span>
          {planNote ? (
            <span className="mt-1 block text-tremor-label font-normal text-amber-700" data-testid="customer-plan-unlimited">
              {planNote}
            </span>
          ) : null}
        </Fact>
        <Fact label="Email">{c.email ?? <span className="text-tremor-content-subtle">—</span>}</Fact>
        <Fact label="Name">{c.name ?? <span className="text-tremor-content-subtle">—</span>}</Fact>
        <Fact label="Current period">
          <Period start={detail.period_start} end={detail.period_end} />
        </Fact>
        <Fact label="Billing anchor">{describeAnchor(c.billing_anchor)}</Fact>
        <Fact label="Stripe customer">
          {c.stripe_customer_id ? (
            <a href={`https://dashboard.stripe.com/customers/${encodeURIComponent(c.stripe_customer_id)}`} target="_blank" rel="noreferrer" className={linkClass}>
              {c.stripe_customer_id} ↗
            </a>
          ) : (
            <span className="text-tremor-content-subtle">Not linked</span>
          )}
        </Fact>
        <Fact label="Subscription items">
          {items.length === 0 ? (
            <span className="text-tremor-content-subtle">None</span>
          ) : (
            <ul className="space-y-0.5">
              {items.map(([event, item]) => (
                <li key={event} className="font-mono text-[12px]">
                  {event} → {item}
                </li>
              ))}
            </ul>
          )}
        </Fact>
        <Fact label="Customer since">
          <Timestamp iso={c.created_at} />
        </Fact>
      </dl>
    </Card>
  );
}

function UsageCards({ detail }: { detail: LoaderData['detail'] }) {
  if (detail.meters.length === 0)
    return (
      <Card>
        <p className="text-tremor-default text-tremor-content">
          No meters yet.{' '}
          <Link to={dashboardPath('meters')} className={linkClass}>
            Create one
          </Link>
          .
        </p>
      </Card>
    );
  return (
    <section aria-labelledby="usage-title">
      <h2 id="usage-title" className="mb-3 text-tremor-title font-semibold text-tremor-content-strong">
        Usage this period
      </h2>
      <div className="grid gap-4 sm:grid-cols-2 xl:grid-cols-3">
        {detail.meters.map((m) => (
          <Card key={m.meter_id} className="p-5" data-testid="meter-usage" data-event-name={m.event_name}>
            <div className="flex items-start justify-between gap-2">
              <div className="min-w-0">
                <h3 className="truncate text-tremor-default font-semibold text-tremor-content-strong">{m.display_name}</h3>
                <p className="truncate font-mono text-[12px] text-tremor-content">
                  {m.event_name}
                  {m.archived ? ' · archived' : ''}
                </p>
              </div>
              {m.hard_cap ? <HardCapBadge /> : null}
            </div>
            <p className="mt-3 tabular-nums text-tremor-content-strong" data-testid="meter-used">
              <span className="text-xl font-semibold">{formatDecimal(m.used)}</span>
              {m.limit !== null ? <span className="text-tremor-default text-tremor-content"> / {formatDecimal(m.limit)}</span> : null}{' '}
              <span className="text-tremor-default text-tremor-content">{m.limit !== null ? m.unit_name : unitFor(formatDecimal(m.used), m.unit_name)}</span>
            </p>
            <div className="mt-2">
              <LimitBar percent={m.percent_of_limit} limit={m.limit} used={m.used} softThreshold={m.soft_limit_threshold} label={`${m.display_name}: share of the limit used`} />
            </div>
            <p className="mt-2 text-tremor-label text-tremor-content">
              {m.soft_limit_threshold !== null ? `Soft limit at ${formatThreshold(m.soft_limit_threshold)}. ` : ''}
              {m.overage_quantity !== '0' ? (
                <span className="font-medium text-red-700" data-testid="meter-overage">
                  {formatDecimal(m.overage_quantity)} {unitFor(formatDecimal(m.overage_quantity), m.unit_name)} over: {formatMoney(m.overage_amount)}
                  {m.overage_price ? ` at ${formatMoney(m.overage_price)} each` : ''}.
                </span>
              ) : m.limit !== null ? (
                `${formatDecimal(m.remaining ?? '0')} ${unitFor(formatDecimal(m.remaining ?? '0'), m.unit_name)} left.`
              ) : (
                'No limit on this plan.'
              )}
            </p>
          </Card>
        ))}
      </div>
    </section>
  );
}

/** The axis compact, the tooltip exact. */
const HISTORY_AXIS = { ...compactAxis((v) => formatDecimal(String(v))), yAxisWidth: 56 };
/** The billing periods' axis names each by a short tick ("15 Nov"); the tooltip by its whole label. */
const PERIODS_AXIS = {
  ...compactAxis(
    (v) => formatDecimal(String(v)),
    (datum) => (datum as { periodLabel?: string } | undefined)?.periodLabel,
  ),
  yAxisWidth: 56,
};

function HistoryCharts({ detail, chart, filters, today }: { detail: LoaderData['detail']; chart: string; filters: LoaderData['filters']; today: string }) {
  const withUsage = detail.meters.filter((m) => m.event_count > 0 || detail.history.some((h) => h.meter_id === m.meter_id));
  const chosen = withUsage.find((m) => m.meter_id === chart) ?? withUsage[0];
  if (!chosen)
    return (
      <Card>
        <h2 className="text-tremor-title font-semibold text-tremor-content-strong">History</h2>
        <p className="mt-2 text-tremor-default text-tremor-content">No usage yet: charts appear with this customer’s first events.</p>
      </Card>
    );
  const unit = chosen.unit_name;
  // Each bar with its exact figure, for the tables under the charts.
  const periodRows = [
    ...detail.history
      .filter((h) => h.meter_id === chosen.meter_id)
      .reverse()
      .map((h) => ({ period: formatPeriodLabel(new Date(h.period_start), new Date(h.period_end)), tick: formatPeriodTick(new Date(h.period_start), new Date(h.period_end)), used: h.used })),
    {
      period: `${formatPeriodLabel(new Date(detail.period_start), new Date(detail.period_end))} (now)`,
      tick: formatPeriodTick(new Date(detail.period_start), new Date(detail.period_end)),
      used: chosen.used,
    },
  ];
  // The table lists the days with usage; the chart draws every day of the period so far, idle ones at 0.
  const chosenDays = detail.daily.filter((d) => d.meter_id === chosen.meter_id);
  const dayRows = chosenDays.map((d) => ({ day: DAY.format(new Date(d.day)), used: d.used }));
  const periods = periodRows.map((r) => ({ period: r.tick, periodLabel: r.period, [unit]: Number(r.used) }));
  const days = chosenDays.length === 0 ? [] : daySeries(chosenDays, detail.period_start, detail.period_end, today).map((d) => ({ day: DAY.format(d.day), [unit]: Number(d.used) }));
  return (
    <Card id="history">
      <div className="flex flex-col gap-3 sm:flex-row sm:items-start sm:justify-between">
        <div>
          <h2 className="text-tremor-title font-semibold text-tremor-content-strong">History</h2>
          <p className="mt-1 text-tremor-default text-tremor-content">Earlier billing periods and the days of this one, in {unit}.</p>
        </div>
        {withUsage.length > 1 ? (
          <nav aria-label="Meter of the charts" className="flex flex-wrap gap-1.5">
            {withUsage.map((m) => (
              <Link
                key={m.meter_id}
                // The events explorer's filters and page stay as they are.
                to={`?${new URLSearchParams([...Object.entries(filters).filter(([, value]) => value), ['chart', m.meter_id]]).toString()}#history`}
                preventScrollReset
                aria-current={m.meter_id === chosen.meter_id ? 'true' : undefined}
                className={`${buttonClassName('small')} ${m.meter_id === chosen.meter_id ? 'bg-tremor-brand-faint text-tremor-brand-emphasis ring-tremor-brand-subtle' : ''}`}
              >
                {m.event_name}
              </Link>
            ))}
          </nav>
        ) : null}
      </div>
      <div className="mt-4 grid gap-6 lg:grid-cols-2">
        <div>
          <h3 className="text-tremor-default font-semibold text-tremor-content-strong">Billing periods</h3>
          <BarChart className="mt-2 h-52" data={periods} index="period" categories={[unit]} colors={['indigo']} showLegend={false} {...PERIODS_AXIS} />
          <ChartTable
            label={`${chosen.event_name} per billing period, in ${unit}`}
            columns={['Period', unit]}
            rows={periodRows.map((r, i) => ({ key: `${i}`, cells: [r.period, formatDecimal(r.used)] }))}
            testId="history-periods-table"
          />
        </div>
        <div>
          <h3 className="text-tremor-default font-semibold text-tremor-content-strong">This period per day (UTC)</h3>
          <BarChart
            className="mt-2 h-52"
            data={days}
            index="day"
            categories={[unit]}
            colors={['cyan']}
            showLegend={false}
            {...HISTORY_AXIS}
            noDataText="No daily totals yet (they follow events within a minute)"
          />
          {dayRows.length > 0 ? (
            <ChartTable
              label={`${chosen.event_name} per day of this period (UTC), in ${unit}`}
              columns={['Day (UTC)', unit]}
              rows={dayRows.map((r) => ({ key: r.day, cells: [r.day, formatDecimal(r.used)] }))}
              testId="history-days-table"
            />
          ) : null}
        </div>
      </div>
    </Card>
  );
}

/** The newest alerts the customer page shows; past them, a link to the alerts list of this customer. */
const ALERTS_SHOWN = 20;

function AlertsCard({ alerts: loaded, userId }: { alerts: LoaderData['alerts']; userId: string }) {
  const alerts = loaded.slice(0, ALERTS_SHOWN);
  return (
    <Card className="p-0">
      <div className="px-6 pt-6">
        <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Alerts</h2>
      </div>
      {alerts.length === 0 ? (
        <p className="px-6 pb-6 pt-2 text-tremor-default text-tremor-content" data-testid="customer-no-alerts">
          No alerts for this customer: they have not crossed a soft limit, hard cap or threshold.
        </p>
      ) : (
        <DataTable className="mt-2" aria-label="Alerts of this customer">
          <TableHead>
            <TableRow>
              <TableHeaderCell className="pl-6">Alert</TableHeaderCell>
              <TableHeaderCell>Meter</TableHeaderCell>
              <TableHeaderCell className="text-right">Used / limit</TableHeaderCell>
              <TableHeaderCell>Period</TableHeaderCell>
              <TableHeaderCell className="pr-6">Raised</TableHeaderCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {alerts.map((a) => (
              <TableRow key={a.id} data-testid="customer-alert">
                <TableCell className="pl-6">
                  <Link to={`${dashboardPath('alerts')}/${a.id}`} className="flex flex-col items-start gap-1" title={`${ALERT_KINDS[a.kind].label}: details`}>
                    <AlertKindBadge kind={a.kind} />
                    <AlertStatusBadge status={a.status} />
                  </Link>
                </TableCell>
                <TableCell className="font-mono text-[12px]">{a.event_name}</TableCell>
                <TableCell className="text-right tabular-nums">
                  <span className="block">
                    {formatDecimal(a.used)} / {formatDecimal(a.limit)} <span className="text-tremor-label">{a.unit_name}</span>
                  </span>
                  {/* Which threshold it crossed: a soft limit's or one of the meter's (80 %), the limit itself (100 %). */}
                  <span className="text-tremor-label" data-testid="customer-alert-threshold">
                    at {formatThreshold(a.threshold)} of the limit
                  </span>
                </TableCell>
                <TableCell>
                  <Period start={a.period_start} end={a.period_end} />
                </TableCell>
                <TableCell className="pr-6">
                  <Link to={`${dashboardPath('alerts')}/${a.id}`} className={linkClass}>
                    <Timestamp iso={a.created_at} withTime />
                  </Link>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </DataTable>
      )}
      {loaded.length > ALERTS_SHOWN ? (
        <p className="px-6 pb-6 pt-2 text-tremor-default text-tremor-content">
          {`The newest ${ALERTS_SHOWN} are shown. `}
          <Link to={`${dashboardPath('alerts')}?user_id=${encodeURIComponent(userId)}`} className={linkClass} data-testid="customer-all-alerts">
            All alerts of this customer
          </Link>
        </p>
      ) : null}
    </Card>
  );
}

export default function CustomerPage() {
  const { detail, meters, alerts, events, filters, eventErrors, chart, today } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const { csrf } = useDashboard();
  const c = detail.customer;
  const here = customerPath(c.user_id);
  const kept = new URLSearchParams(Object.entries(filters).filter(([name, value]) => value && name !== 'cursor'));
  // The events explorer's pages keep the meter the charts show.
  if (chart) kept.set('chart', chart);
  const next = new URLSearchParams(kept);
  if (events.next_cursor) next.set('cursor', events.next_cursor);
  return (
    <>
      <Link to={dashboardPath('customers')} className={`mb-4 inline-block text-tremor-default ${linkClass}`}>
        ← Top users
      </Link>
      <PageHeader title={c.user_id} description={[c.name, c.email].filter(Boolean).join(' · ') || `Customer since ${formatDateTime(c.created_at)}`} />
      <div className="space-y-6">
        {result?.ok ? <SuccessNotice testId="plan-saved" focusIfLost={result}>{`Plan changed to ${result.plan ?? 'no plan'}. Its limits apply from now on.`}</SuccessNotice> : null}
        <ProfileCard detail={detail} meters={meters} />
        <UsageCards detail={detail} />
        <HistoryCharts detail={detail} chart={chart} filters={filters} today={today} />
        <ChangePlanForm key={c.plan_name ?? ''} action={customerPath(c.user_id)} currentPlan={c.plan_name} meters={meters.filter((m) => !m.archived)} csrf={csrf} error={result && !result.ok ? result.error : null} />
        <AlertsCard alerts={alerts} userId={c.user_id} />
        <EventsExplorer
          events={events.events}
          nextCursor={events.next_cursor}
          filters={filters}
          errors={eventErrors}
          meters={detail.meters}
          periodStart={detail.period_start}
          chart={chart}
          firstPageLink={`${here}${kept.size ? `?${kept.toString()}` : ''}#events`}
          nextPageLink={`${here}?${next.toString()}#events`}
        />
      </div>
    </>
  );
}
