import type { ReactNode } from 'react';
import { Link } from '@remix-run/react';
import { BarChart, Card, TableBody, TableCell, TableFoot, TableFooterCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { TRevenueOverview } from '../../server/schemas/revenue';
import { dashboardPath } from '~/lib/dashboard';
import { unitFor } from '~/lib/format';
import { formatEstimate, formatMoney } from '~/lib/numbers';
import { DataTable } from './data-table';
import { chartNumber, formatProjectedQuantity, formatRevenueQuantity, MoneyAtAGlance, plural, RevenueStat } from './revenue-figures';
import { linkClass } from './styles';

const SERIES = { soFar: 'So far', projected: 'Projected' } as const;

/** The three headline figures of the period. */
export function RevenueSummary({ overview }: { overview: TRevenueOverview }) {
  const { totals } = overview;
  return (
    <div className="grid gap-4 sm:grid-cols-3">
      <RevenueStat
        label="Overage revenue so far"
        value={<MoneyAtAGlance amount={totals.amount_so_far} />}
        testId="revenue-so-far"
      >
        {plural(totals.customers_in_overage, 'customer')} over a limit
      </RevenueStat>
      <RevenueStat label="Projected to period end" value={formatEstimate(totals.amount_projected)} testId="revenue-projected">
        {plural(totals.customers_projected, 'customer')} on course to pass a limit
      </RevenueStat>
      <RevenueStat label="Customers" value={new Intl.NumberFormat('en-US').format(overview.customers_count)}>
        on {plural(overview.meters_count, 'live meter')}
      </RevenueStat>
    </div>
  );
}

function SectionTitle({ id, title, children }: { id: string; title: string; children?: ReactNode }) {
  return (
    <div className="px-6 pt-6">
      <h2 id={id} className="text-tremor-title font-semibold text-tremor-content-strong">
        {title}
      </h2>
      {children ? <p className="mt-1 text-tremor-default text-tremor-content">{children}</p> : null}
    </div>
  );
}

function OverageChart({ data, label }: { data: Array<{ name: string; [SERIES.soFar]: number; [SERIES.projected]: number }>; label: string }) {
  return (
    <div className="px-6 pt-4" role="img" aria-label={label}>
      <BarChart
        className="h-56"
        data={data}
        index="name"
        categories={[SERIES.soFar, SERIES.projected]}
        colors={['indigo', 'cyan']}
        valueFormatter={(v: number) => formatEstimate(String(v))}
        yAxisWidth={72}
        noDataText="No overage this period"
      />
    </div>
  );
}

/** Overage per meter: so far and projected, in the meter's unit and in money. */
type OverageFigures = { amount_so_far: string; quantity_so_far: string; amount_projected: string; quantity_projected: string; unit_name: string };

/** The last two cells of a meter's or a plan's row: overage so far (exact) and projected (estimate). */
function OverageCells({ row, amountTestId }: { row: OverageFigures; amountTestId?: string }) {
  return (
    <>
      <TableCell className="whitespace-normal text-right tabular-nums">
        <span className="block font-medium text-tremor-content-strong" data-testid={amountTestId}>
          {formatMoney(row.amount_so_far)}
        </span>
        <span className="text-tremor-label">
          {formatRevenueQuantity(row.quantity_so_far)} {unitFor(formatRevenueQuantity(row.quantity_so_far), row.unit_name)} over
        </span>
      </TableCell>
      <TableCell className="whitespace-normal pr-6 text-right tabular-nums">
        <span className="block">{formatEstimate(row.amount_projected)}</span>
        <span className="text-tremor-label">
          {formatProjectedQuantity(row.quantity_projected)} {unitFor(formatProjectedQuantity(row.quantity_projected), row.unit_name)} over
        </span>
      </TableCell>
    </>
  );
}

export function RevenueByMeter({ overview }: { overview: TRevenueOverview }) {
  const meters = overview.meters;
  const current = meters.some((m) => m.projection === 'current');
  return (
    <Card className="p-0" aria-labelledby="revenue-by-meter">
      <SectionTitle id="revenue-by-meter" title="By meter">
        Counts, sums and durations are projected at each customer’s run-rate so far (usage ÷ elapsed share of their period, a day at least) — early in a
        period that rests on little usage.
        {current ? ' Max and unique meters are projected at their current value: a peak or a distinct count does not grow with time.' : ''}
      </SectionTitle>
      <OverageChart
        label="Overage revenue per meter, so far and projected"
        data={meters.map((m) => ({ name: m.display_name, [SERIES.soFar]: chartNumber(m.amount_so_far), [SERIES.projected]: chartNumber(m.amount_projected) }))}
      />
      <div className="mt-4 overflow-x-auto">
        <DataTable aria-label="Overage per meter">
          <TableHead>
            <TableRow>
              <TableHeaderCell className="pl-6">Meter</TableHeaderCell>
              <TableHeaderCell className="hidden text-right sm:table-cell">Customers over</TableHeaderCell>
              <TableHeaderCell className="text-right">So far</TableHeaderCell>
              <TableHeaderCell className="pr-6 text-right">Projected</TableHeaderCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {meters.map((m) => (
              <TableRow key={m.meter_id} data-testid="revenue-meter-row" data-event-name={m.event_name}>
                <TableCell className="whitespace-normal pl-6">
                  <Link to={`${dashboardPath('meters')}/${m.meter_id}`} className="block font-medium text-tremor-content-strong hover:text-tremor-brand">
                    {m.display_name}
                  </Link>
                  <span className="font-mono text-[12px]">{m.event_name}</span>
                  <span className="block text-tremor-label">
                    {m.billing_plans === 0 ? 'no plan bills overage' : `${plural(m.billing_plans, 'plan')} billing overage`} ·{' '}
                    {m.projection === 'run_rate' ? 'run-rate' : 'current value'}
                    {m.archived ? ' · archived' : ''}
                  </span>
                </TableCell>
                <TableCell className="hidden text-right tabular-nums sm:table-cell">
                  {m.customers_in_overage}
                  <span className="block text-tremor-label">{m.customers_projected} by period end</span>
                </TableCell>
                <OverageCells row={m} amountTestId="revenue-meter-amount" />
              </TableRow>
            ))}
          </TableBody>
          <TableFoot>
            <TableRow>
              <TableFooterCell className="pl-6">Total</TableFooterCell>
              <TableFooterCell className="hidden text-right tabular-nums sm:table-cell">
                <span title="Customers over any meter's limit, each counted once">{overview.totals.customers_in_overage} distinct</span>
                <span className="block text-tremor-label font-normal">{overview.totals.customers_projected} by period end</span>
              </TableFooterCell>
              <TableFooterCell className="text-right tabular-nums" data-testid="revenue-total-so-far">
                {formatMoney(overview.totals.amount_so_far)}
              </TableFooterCell>
              <TableFooterCell className="pr-6 text-right tabular-nums">{formatEstimate(overview.totals.amount_projected)}</TableFooterCell>
            </TableRow>
          </TableFoot>
        </DataTable>
      </div>
    </Card>
  );
}

/** Overage per plan (all meters together, charted) and per plan × meter with the terms (table). */
export function RevenueByPlan({ overview }: { overview: TRevenueOverview }) {
  if (overview.plan_meters.length === 0) {
    return (
      <Card aria-labelledby="revenue-by-plan">
        <h2 id="revenue-by-plan" className="text-tremor-title font-semibold text-tremor-content-strong">
          By plan
        </h2>
        <p className="mt-2 text-tremor-default text-tremor-content" data-testid="revenue-no-billing-plans">
          No plan bills overage yet. A plan bills overage when it has a limit and an overage price, and no hard cap (a hard cap refuses events at the limit instead). Set one
          on the{' '}
          <Link to={dashboardPath('meters')} className={linkClass}>
            Meters
          </Link>{' '}
          page.
        </p>
      </Card>
    );
  }
  return (
    <Card className="p-0" aria-labelledby="revenue-by-plan">
      <SectionTitle id="revenue-by-plan" title="By plan">
        Customers are counted on the plan they are on now, at the limit each plan has now. Unlimited and hard-capped plans never bill overage.
      </SectionTitle>
      <OverageChart
        label="Overage revenue per plan, so far and projected"
        data={overview.plans.map((p) => ({ name: p.plan_name, [SERIES.soFar]: chartNumber(p.amount_so_far), [SERIES.projected]: chartNumber(p.amount_projected) }))}
      />
      <div className="mt-4 overflow-x-auto">
        <DataTable aria-label="Overage per plan and meter">
          <TableHead>
            <TableRow>
              <TableHeaderCell className="pl-6">Plan · meter</TableHeaderCell>
              <TableHeaderCell className="hidden text-right sm:table-cell">Terms</TableHeaderCell>
              <TableHeaderCell className="hidden text-right sm:table-cell">Customers over</TableHeaderCell>
              <TableHeaderCell className="text-right">So far</TableHeaderCell>
              <TableHeaderCell className="pr-6 text-right">Projected</TableHeaderCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {overview.plan_meters.map((p) => (
              <TableRow key={`${p.plan_name}|${p.meter_id}`} data-testid="revenue-plan-row">
                <TableCell className="whitespace-normal pl-6">
                  <span className="block font-medium text-tremor-content-strong">{p.plan_name}</span>
                  <span className="font-mono text-[12px]">{p.event_name}</span>
                </TableCell>
                <TableCell className="hidden text-right tabular-nums sm:table-cell">
                  {formatRevenueQuantity(p.limit_value)} {unitFor(formatRevenueQuantity(p.limit_value), p.unit_name)}
                  <span className="block text-tremor-label">{p.overage_price === null ? 'no overage price' : `then ${formatMoney(p.overage_price)} each`}</span>
                </TableCell>
                <TableCell className="hidden text-right tabular-nums sm:table-cell">
                  {p.customers_in_overage}
                  <span className="block text-tremor-label">{p.customers_projected} by period end</span>
                </TableCell>
                <OverageCells row={p} />
              </TableRow>
            ))}
          </TableBody>
          <TableFoot>
            {overview.plans.map((p) => (
              <TableRow key={p.plan_name}>
                <TableFooterCell className="whitespace-normal pl-6">{p.plan_name} — all meters</TableFooterCell>
                <TableFooterCell className="hidden sm:table-cell" />
                <TableFooterCell className="hidden text-right tabular-nums sm:table-cell">{p.customers_in_overage}</TableFooterCell>
                <TableFooterCell className="text-right tabular-nums">{formatMoney(p.amount_so_far)}</TableFooterCell>
                <TableFooterCell className="pr-6 text-right tabular-nums">{formatEstimate(p.amount_projected)}</TableFooterCell>
              </TableRow>
            ))}
          </TableFoot>
        </DataTable>
      </div>
    </Card>
  );
}
