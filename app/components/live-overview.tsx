import { Link } from '@remix-run/react';
import { AreaChart, Badge, Card, ProgressBar, SparkAreaChart, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { ReactNode } from 'react';
import type { TOverview } from '../../server/schemas/insights.js';
import { customerPath, DASHBOARD_PATH } from '~/lib/dashboard';
import { unitFor } from '~/lib/format';
import { formatCompact, formatCount, formatDecimal, formatPercent, formatQuantity } from '~/lib/numbers';
import { ChartTable } from './chart-table';
import { DataTable } from './data-table';
import { MoneyAtAGlance } from './revenue-figures';

const TIME = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' });
/** How far behind the counters the charts may be before the overview says so. */
const CHARTS_BEHIND_SHOWN_SECONDS = 30;
const formatAge = (seconds: number) => (seconds < 120 ? `${seconds} s` : seconds < 7_200 ? `${Math.floor(seconds / 60)} min` : `${Math.floor(seconds / 3_600)} h`);
const linkClass = 'font-medium text-tremor-brand hover:text-tremor-brand-emphasis focus:outline-none focus-visible:underline';

function Kpi({ label, value, testId, children }: { label: string; value: ReactNode; testId: string; children?: ReactNode }) {
  return (
    <Card className="flex flex-col gap-2 p-5" data-testid={testId}>
      <p className="text-tremor-default text-tremor-content">{label}</p>
      <p className="text-3xl font-semibold tabular-nums text-tremor-content-strong" data-testid={`${testId}-value`}>
        {value}
      </p>
      {children}
    </Card>
  );
}

/** The overview once there is usage: KPIs, events per minute, meters this period, customers near or over a limit. */
export function LiveOverview({ overview }: { overview: TOverview }) {
  const perMinute = overview.events_per_minute.map((m) => ({ minute: `${TIME.format(new Date(m.minute))} UTC`, Events: m.events }));
  // The charts end at the last complete minute: the one under way would draw a cliff to
  // its few events so far, which reads as traffic stopping. It is counted in the KPI and said below the chart.
  const minutes = perMinute.slice(0, -1);
  const thisMinute = perMinute.at(-1)?.Events ?? 0;
  // The charts come from rollups, which follow the counters within a second or two; past a
  // few seconds (workers stopped or behind), say so rather than draw a fall that did not happen.
  const behindSeconds =
    overview.rollups_pending_since === null ? 0 : Math.floor((Date.parse(overview.generated_at) - Date.parse(overview.rollups_pending_since)) / 1000);
  // An attention row's meter is always among the overview's meters (archived ones are left out of both).
  const unitOf = new Map(overview.meters.map((m) => [m.meter_id, m.unit_name]));
  return (
    <div className="space-y-6">
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2 xl:grid-cols-4">
        <Kpi label="Events in the last hour" value={formatCount(overview.events_last_hour)} testId="kpi-events">
          {/* Not the area chart's colour: Tremor names each chart's gradient after its colour, and two alike were one id twice. */}
          <SparkAreaChart data={minutes} index="minute" categories={['Events']} colors={['blue']} className="h-10 w-full" />
        </Kpi>
        <Kpi label="Active customers this period" value={formatCount(overview.active_customers)} testId="kpi-customers">
          <Link to={`${DASHBOARD_PATH}/customers`} className={`text-tremor-label ${linkClass}`}>
            See top users
          </Link>
        </Kpi>
        <Kpi label="Open alerts" value={formatCount(overview.open_alerts)} testId="kpi-alerts">
          <Link to={`${DASHBOARD_PATH}/alerts?status=open`} className={`text-tremor-label ${linkClass}`}>
            Review alerts
          </Link>
        </Kpi>
        <Kpi label="Overage so far this period" value={<MoneyAtAGlance amount={overview.overage.amount} />} testId="kpi-overage">
          <p className="text-tremor-label text-tremor-content">
            {overview.overage.customers === 1 ? '1 customer' : `${formatCount(overview.overage.customers)} customers`} in overage ·{' '}
            <Link to={`${DASHBOARD_PATH}/revenue`} className={linkClass}>
              Revenue
            </Link>
          </p>
        </Kpi>
      </div>

      <Card>
        <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Events per minute</h2>
        <p className="text-tremor-default text-tremor-content">
          Each complete minute of the last hour, all meters (UTC). This minute so far: <span data-testid="events-this-minute">{formatCount(thisMinute)}</span>.
        </p>
        {behindSeconds >= CHARTS_BEHIND_SHOWN_SECONDS ? (
          <p className="mt-1 text-tremor-default text-amber-700" data-testid="charts-behind">
            The charts are {formatAge(behindSeconds)} behind: events committed since {TIME.format(new Date(overview.rollups_pending_since!))} UTC are in the
            figures above but not yet in the charts (the job workers are catching up, or not running).
          </p>
        ) : null}
        <AreaChart
          className="mt-4 h-56"
          data={minutes}
          index="minute"
          categories={['Events']}
          colors={['indigo']}
          valueFormatter={formatCompact}
          showLegend={false}
          allowDecimals={false}
          startEndOnly
          data-testid="events-per-minute"
        />
        <ChartTable
          label="Events per minute, the last hour (UTC)"
          columns={['Minute (UTC)', 'Events']}
          rows={minutes.map((m) => ({ key: m.minute, cells: [m.minute, formatCount(m.Events)] }))}
          testId="events-per-minute-table"
        />
      </Card>

      {/* Side by side only where the meters table fits its third of the page without scrolling. */}
      <div className="grid grid-cols-1 gap-6 2xl:grid-cols-5">
        <Card className="2xl:col-span-3">
          <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Meters this period</h2>
          <p className="text-tremor-default text-tremor-content">Each customer’s current billing period, added up (max meters: the largest customer).</p>
          {overview.meters.length === 0 ? (
            <p className="mt-4 text-tremor-default text-tremor-content">No active meters.</p>
          ) : (
            <div className="mt-4 overflow-x-auto">
              <DataTable data-testid="overview-meters">
                <TableHead>
                  <TableRow>
                    <TableHeaderCell>Meter</TableHeaderCell>
                    <TableHeaderCell className="text-right">Usage</TableHeaderCell>
                    <TableHeaderCell className="text-right">Customers</TableHeaderCell>
                    <TableHeaderCell className="text-right">Near limit</TableHeaderCell>
                    <TableHeaderCell className="text-right">At or over</TableHeaderCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {overview.meters.map((meter) => (
                    <TableRow key={meter.meter_id} data-testid={`overview-meter-${meter.event_name}`}>
                      <TableCell>
                        <Link to={`${DASHBOARD_PATH}/trends?meter=${meter.meter_id}`} className={linkClass}>
                          {meter.display_name}
                        </Link>
                        <p className="text-tremor-label text-tremor-content">{meter.event_name}</p>
                      </TableCell>
                      <TableCell className="text-right tabular-nums" data-testid="meter-used">
                        <span title={`Exactly ${formatDecimal(meter.used)} ${unitFor(formatDecimal(meter.used), meter.unit_name)}`}>{formatQuantity(meter.used)}</span>{' '}
                        <span className="text-tremor-label text-tremor-content">{unitFor(formatQuantity(meter.used), meter.unit_name)}</span>
                      </TableCell>
                      <TableCell className="text-right tabular-nums">{formatCount(meter.customers)}</TableCell>
                      <TableCell className="text-right">{meter.near_limit > 0 ? <Badge color="amber">{meter.near_limit}</Badge> : '0'}</TableCell>
                      <TableCell className="text-right">{meter.over_limit > 0 ? <Badge color="rose">{meter.over_limit}</Badge> : '0'}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </DataTable>
            </div>
          )}
        </Card>

        <Card className="2xl:col-span-2" data-testid="attention">
          <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Customers near or over a limit</h2>
          <p className="text-tremor-default text-tremor-content">From this period’s limit alerts, the furthest along first.</p>
          {overview.attention.length === 0 ? (
            <p className="mt-4 text-tremor-default text-tremor-content">Nobody is near a limit this period.</p>
          ) : (
            <ul className="mt-4 space-y-4">
              {overview.attention.map((row) => {
                const over = row.kind !== 'soft_limit_reached';
                return (
                  <li key={row.alert_id} data-testid={`attention-${row.user_id}`}>
                    <div className="flex items-baseline justify-between gap-3">
                      <Link to={customerPath(row.user_id)} className={`truncate ${linkClass}`}>
                        {row.customer_name ?? row.user_id}
                      </Link>
                      <span className={`shrink-0 text-tremor-default font-semibold tabular-nums ${over ? 'text-rose-600' : 'text-amber-600'}`}>{formatPercent(row.percent)}</span>
                    </div>
                    <ProgressBar value={Math.min(100, row.percent)} color={over ? 'rose' : 'amber'} className="mt-1" />
                    <p className="mt-1 flex flex-wrap gap-x-2 text-tremor-label text-tremor-content">
                      <span>
                        {formatDecimal(row.used)} of {formatDecimal(row.limit)} {unitOf.get(row.meter_id)}
                      </span>
                      <span aria-hidden="true">·</span>
                      <span className="font-mono">{row.event_name}</span>
                      <span aria-hidden="true">·</span>
                      <span>{row.plan_name ?? 'no plan'}</span>
                      <span aria-hidden="true">·</span>
                      <Link to={`${DASHBOARD_PATH}/alerts/${row.alert_id}`} className={linkClass}>
                        {over ? (row.kind === 'hard_limit_reached' ? 'Capped' : 'In overage') : 'Near limit'}
                        {row.status === 'acknowledged' ? ' (acknowledged)' : ''}
                      </Link>
                    </p>
                  </li>
                );
              })}
            </ul>
          )}
        </Card>
      </div>
    </div>
  );
}
