import { json, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Link, useLoaderData } from '@remix-run/react';
import { Badge, Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import { buttonClassName } from '~/components/buttons';
import { DataTable } from '~/components/data-table';
import { AGGREGATIONS } from '~/components/meter-labels';
import { SuccessNotice } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import type { TOverview } from '../../server/schemas/insights.js';
import { LiveIndicator } from '~/components/live-indicator';
import { requireCreator } from '~/lib/caller.server';
import { dashboardPath } from '~/lib/dashboard';
import { pageHeaders } from '~/lib/page-headers';
import { unitFor } from '~/lib/format';
import { formatDecimal, formatFractionAsPercent, formatMoney, formatQuantity } from '~/lib/numbers';
import { trpc } from '~/lib/trpc.client';
import { useLive } from '~/lib/use-live';
import { linkClass, codeClass as code } from '~/components/styles';

export const meta: MetaFunction = () => [{ title: 'Meters · Staryer Usage' }];

export const headers = pageHeaders;

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const params = new URL(request.url).searchParams;
  const showArchived = params.get('archived') === '1';
  // The meters with their current limits, and this period's usage per meter from the
  // dashboard's shared period figures (insights.overview: computed from the live counters
  // in the background and served from memory, so no page waits for a scan of every
  // counter); the page then polls them, as the Overview does.
  const [{ meters }, overview] = await Promise.all([caller.meters.list({ include_archived: true }), caller.insights.overview()]);
  const active = meters.filter((m) => m.status === 'active');
  const archived = meters.filter((m) => m.status === 'archived');
  const created = meters.find((m) => m.id === params.get('created')) ?? null;
  return json(
    {
      meters: [...active, ...(showArchived ? archived : [])],
      usage: usageByMeter(overview),
      archivedCount: archived.length,
      showArchived,
      created: created
        ? {
            id: created.id,
            display_name: created.display_name,
            event_name: created.event_name,
          }
        : null,
    },
    { headers: { 'Cache-Control': 'private, no-store' } }
  );
}

type LoaderData = ReturnType<typeof useLoaderData<typeof loader>>;
type MeterRow = LoaderData['meters'][number];
type Usage = { used: string; customers: number };

/** This period's usage per active meter id, from the overview's period figures. */
function usageByMeter(overview: Pick<TOverview, 'meters'>): Record<string, Usage> {
  return Object.fromEntries(overview.meters.map((u) => [u.meter_id, { used: u.used, customers: u.customers }]));
}

function EmptyState() {
  return (
    <Card data-testid="meters-empty" className="max-w-3xl">
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">No meters yet</h2>
      <p className="mt-2 text-tremor-default text-tremor-content">
        A meter turns the events your app sends into a number per customer and billing period: API calls counted, tokens summed, peak seats, active users, minutes of compute. Each
        event names its meter with <code className={code}>event_name</code>; events for a name without a meter are refused, so create the meter first.
      </p>
      <p className="mt-2 text-tremor-default text-tremor-content">
        On the meter you set what each plan includes, when to alert, whether to block past the limit, and the price of overage.
      </p>
      <Link to={`${dashboardPath('meters')}/new`} className={`mt-5 ${buttonClassName('primary')}`}>
        Create meter
      </Link>
    </Card>
  );
}

/** plan → limit · soft · hard cap or overage price (money, per unit of the limit), one line per plan. */
function LimitsSummary({ meter }: { meter: MeterRow }) {
  if (meter.plan_limits.length === 0) return <span className="text-tremor-content-subtle">No limits (unlimited)</span>;
  return (
    <ul className="space-y-1">
      {meter.plan_limits.map((l) => (
        // Each part keeps together; a long line wraps between them, so the table fits beside its actions.
        <li key={l.plan_name}>
          <span className="whitespace-nowrap">
            <span className="font-medium text-tremor-content-strong">{l.plan_name}</span> →{' '}
            {l.limit_value === null ? 'unlimited' : `${formatDecimal(l.limit_value)} ${unitFor(formatDecimal(l.limit_value), meter.unit_name)}`}
          </span>
          {/* An unlimited plan never alerts, blocks or bills overage: terms it was given say nothing. */}
          {l.limit_value !== null && l.soft_limit_threshold ? (
            <>
              {' '}
              <span className="whitespace-nowrap text-tremor-content">· soft {formatFractionAsPercent(l.soft_limit_threshold)}</span>
            </>
          ) : null}
          {l.limit_value === null ? null : l.hard_cap ? (
            <span className="ml-1 inline-flex">
              <Badge color="red" size="xs">
                hard cap
              </Badge>
            </span>
          ) : l.overage_price !== null ? (
            <>
              {' '}
              <span className="whitespace-nowrap text-tremor-content">· then {formatMoney(l.overage_price)} each</span>
            </>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

/** Labelled as the Overview's "Meters this period": the customers' periods added up (max meters: the largest customer). */
function PeriodUsage({ meter, usage }: { meter: MeterRow; usage: Usage | undefined }) {
  if (!usage || usage.customers === 0) return <span className="text-tremor-content-subtle">{meter.status === 'archived' ? '—' : 'No usage yet'}</span>;
  const { used, customers } = usage;
  return (
    <>
      <span className="block tabular-nums text-tremor-content-strong">
        {meter.aggregation_type === 'max' ? 'largest ' : ''}
        <span title={`Exactly ${formatDecimal(used)} ${unitFor(formatDecimal(used), meter.unit_name)}`}>{formatQuantity(used)}</span> {unitFor(formatQuantity(used), meter.unit_name)}
      </span>
      <span className="text-tremor-label">
        {formatDecimal(String(customers))} customer{customers === 1 ? '' : 's'} metered
      </span>
    </>
  );
}

export default function MetersPage() {
  const { meters, usage: initialUsage, archivedCount, showArchived, created } = useLoaderData<typeof loader>();
  const { data: usage, state, updatedAt } = useLive(initialUsage, (signal) => trpc.insights.overview.query(undefined, { signal }).then(usageByMeter));
  const newMeter = (
    <Link to={`${dashboardPath('meters')}/new`} className={buttonClassName('primary')}>
      Create meter
    </Link>
  );
  return (
    <>
      <PageHeader title="Meters" description="What you measure, how each billing period adds it up, and what each plan may use.">
        {meters.length > 0 || archivedCount > 0 ? newMeter : null}
      </PageHeader>
      <div className="space-y-6">
        {created ? (
          <SuccessNotice testId="meter-created" focusIfLost={created}>
            Meter “{created.display_name}” created. Events named <span className="font-mono">{created.event_name}</span> are metered from now on.
          </SuccessNotice>
        ) : null}
        {meters.length === 0 && archivedCount === 0 ? (
          <EmptyState />
        ) : (
          <Card className="p-0">
            <div className="flex flex-wrap items-center justify-between gap-2 px-6 pt-5 pb-2">
              <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
                <p className="text-tremor-default text-tremor-content">Usage is this billing period’s across customers, refreshed every few seconds.</p>
                <LiveIndicator state={state} updatedAt={updatedAt} />
              </div>
              {archivedCount > 0 ? (
                <Link to={showArchived ? dashboardPath('meters') : '?archived=1'} className={`text-tremor-default ${linkClass}`} data-testid="archived-toggle">
                  {showArchived ? 'Hide archived' : `Show archived (${archivedCount})`}
                </Link>
              ) : null}
            </div>
            {meters.length === 0 ? (
              <p className="px-6 pb-8 text-tremor-default text-tremor-content">No active meters. Archived meters are kept for their history.</p>
            ) : (
              <div className="relative overflow-x-auto">
                <DataTable aria-label="Meters">
                  <TableHead>
                    <TableRow>
                      <TableHeaderCell className="pl-6">Meter</TableHeaderCell>
                      <TableHeaderCell>Aggregation</TableHeaderCell>
                      <TableHeaderCell>Plan limits</TableHeaderCell>
                      <TableHeaderCell>This period</TableHeaderCell>
                      <TableHeaderCell className="pr-6 text-right">
                        <span className="sr-only">Actions</span>
                      </TableHeaderCell>
                    </TableRow>
                  </TableHead>
                  <TableBody>
                    {meters.map((meter) => (
                      <TableRow key={meter.id} data-testid="meter-row" data-meter-id={meter.id} data-event-name={meter.event_name} className="align-top">
                        <TableCell className="pl-6">
                          <Link to={`${dashboardPath('meters')}/${meter.id}`} className="block font-medium text-tremor-content-strong hover:text-tremor-brand">
                            {meter.display_name}
                          </Link>
                          <span className="font-mono text-[12px]">{meter.event_name}</span>
                          {meter.status === 'archived' ? (
                            <span className="ml-2 inline-flex">
                              <Badge color="gray" size="xs">
                                archived
                              </Badge>
                            </span>
                          ) : null}
                        </TableCell>
                        <TableCell>
                          <span className="block text-tremor-content-strong">{AGGREGATIONS[meter.aggregation_type].label}</span>
                          <span className="text-tremor-label">
                            in {meter.unit_name} · {meter.billing_model}
                          </span>
                        </TableCell>
                        <TableCell className="min-w-[16rem] whitespace-normal">
                          <LimitsSummary meter={meter} />
                        </TableCell>
                        {/* Wraps (a bytes figure is long), and no Created column (the meter's page says it): Edit fits at 1280 px. */}
                        <TableCell className="min-w-[9rem] whitespace-normal">
                          <PeriodUsage meter={meter} usage={usage[meter.id]} />
                        </TableCell>
                        <TableCell className="pr-6 text-right">
                          <Link to={`${dashboardPath('meters')}/${meter.id}`} className={buttonClassName('small')}>
                            {meter.status === 'archived' ? 'View' : 'Edit'}
                            <span className="sr-only"> {meter.display_name}</span>
                          </Link>
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </DataTable>
              </div>
            )}
          </Card>
        )}
      </div>
    </>
  );
}
