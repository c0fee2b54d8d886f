import { BarChart, Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { TMeterPreview, TPlanLimitHistoryEntry } from '../../server/schemas/meters';
import { compactAxis } from '~/components/chart-tooltip';
import { DataTable } from '~/components/data-table';
import { Timestamp } from '~/components/timestamp';
import { formatDate } from '~/lib/format';
import { formatCents, formatDecimal, formatFractionAsPercent, formatMoney } from '~/lib/numbers';

const planLabel = (name: string | null) => name ?? 'No plan';
/** Bytes and tokens run into the billions: the axis compact, the tooltip exact. */
const PREVIEW_AXIS = compactAxis((v) => formatDecimal(String(v)));

/** The preview's loading state: the same frame, so the page does not jump. */
export function MeterPreviewLoading() {
  return (
    <Card aria-busy="true" data-testid="meter-preview-loading">
      <p role="status" className="text-tremor-default text-tremor-content">
        Measuring the last 30 days of events with this definition…
      </p>
      <div className="mt-4 h-48 animate-pulse rounded-tremor-default bg-tremor-background-subtle" />
    </Card>
  );
}

function Figure({ label, value }: { label: string; value: string }) {
  return (
    <div className="min-w-0">
      <p className="text-tremor-label text-tremor-content">{label}</p>
      <p className="truncate text-tremor-metric font-semibold tabular-nums text-tremor-content-strong" title={value}>
        {value}
      </p>
    </div>
  );
}

/**
 * What a definition would have measured on the last 30 days: totals, per plan (limits
 * compared per customer × billing period) and per UTC day.
 */
export function MeterPreviewResult({ preview }: { preview: TMeterPreview }) {
  const unit = preview.unit_name;
  const chartData = preview.daily.map((d) => ({
    date: formatDate(`${d.date}T00:00:00Z`).replace(/ \d{4}$/, ''),
    [unit]: Number(d.quantity),
  }));
  return (
    <Card data-testid="meter-preview" aria-labelledby="meter-preview-title">
      <h2 id="meter-preview-title" className="text-tremor-title font-semibold text-tremor-content-strong">
        Preview on the last 30 days
      </h2>
      <p className="mt-1 text-tremor-default text-tremor-content">
        <span className="font-mono">{preview.event_name}</span> events from <Timestamp iso={preview.from} /> to <Timestamp iso={preview.to} withTime />, measured with this
        definition. Limits are compared per customer and billing period on each customer’s current plan; only the part of a period inside the window counts. Nothing is saved.
      </p>
      {preview.events === 0 ? (
        <p
          className="mt-4 rounded-tremor-default border border-tremor-border bg-tremor-background-muted px-4 py-3 text-tremor-default text-tremor-content"
          data-testid="meter-preview-empty"
        >
          No events yet: nothing named <span className="font-mono">{preview.event_name}</span> was recorded in the last 30 days. Events are only stored for the event names of
          existing meters, so a new meter has nothing to measure until it is saved and your app sends events.
        </p>
      ) : null}
      <div className="mt-6 grid grid-cols-2 gap-4 lg:grid-cols-4">
        <Figure label="Events" value={formatDecimal(String(preview.events))} />
        <Figure label="Customers" value={formatDecimal(String(preview.customers))} />
        <Figure label={`Total (${unit})`} value={formatDecimal(preview.quantity)} />
        <Figure label="Overage" value={formatCents(preview.overage_amount)} />
      </div>
      <div className="relative mt-6 overflow-x-auto">
        <DataTable aria-label="Preview per plan">
          <TableHead>
            <TableRow>
              <TableHeaderCell>Plan</TableHeaderCell>
              <TableHeaderCell className="text-right">Customers</TableHeaderCell>
              <TableHeaderCell className="text-right">Total ({unit})</TableHeaderCell>
              <TableHeaderCell className="text-right">Soft-limit alerts</TableHeaderCell>
              <TableHeaderCell className="text-right">Over the limit</TableHeaderCell>
              <TableHeaderCell className="text-right">Beyond the limit</TableHeaderCell>
              <TableHeaderCell className="text-right">Overage</TableHeaderCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {preview.plans.map((plan) => (
              <TableRow key={plan.plan_name ?? '(none)'} data-testid="meter-preview-plan" data-plan={plan.plan_name ?? ''}>
                <TableCell>
                  <span className="block font-medium text-tremor-content-strong">{planLabel(plan.plan_name)}</span>
                  <span className="text-tremor-label">
                    {plan.limit_value === null ? 'unlimited' : `limit ${formatDecimal(plan.limit_value)}`}
                    {plan.hard_cap ? ' · hard cap' : plan.overage_price !== null && plan.limit_value !== null ? ` · then ${formatMoney(plan.overage_price)} each` : ''}
                    {!plan.in_definition && plan.plan_name !== null ? ' · not in this meter' : ''}
                  </span>
                </TableCell>
                <TableCell className="text-right tabular-nums">{formatDecimal(String(plan.customers))}</TableCell>
                <TableCell className="text-right tabular-nums">{formatDecimal(plan.quantity)}</TableCell>
                <TableCell className="text-right tabular-nums">{plan.soft_limit_threshold === null ? '—' : plan.customers_over_soft_limit}</TableCell>
                <TableCell className="text-right tabular-nums">
                  {plan.customers_over_limit}
                  {plan.hard_cap && plan.customers_capped > 0 ? <span className="block text-tremor-label text-red-600">{plan.customers_capped} would have been capped</span> : null}
                </TableCell>
                <TableCell className="text-right tabular-nums">
                  {formatDecimal(plan.quantity_over_limit)}
                  {plan.hard_cap && plan.quantity_over_limit !== '0' ? <span className="block text-tremor-label">refused</span> : null}
                </TableCell>
                <TableCell className="text-right tabular-nums">{plan.hard_cap ? '—' : formatMoney(plan.overage_amount)}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </DataTable>
      </div>
      {preview.events === 0 ? null : (
        <>
          <h3 className="mt-6 text-tremor-default font-semibold text-tremor-content-strong">Per day (UTC)</h3>
          <BarChart
            className="mt-2 h-56"
            data={chartData}
            index="date"
            categories={[unit]}
            colors={['indigo']}
            showLegend={false}
            yAxisWidth={56}
            {...PREVIEW_AXIS}
            noDataText="No events in the last 30 days"
          />
        </>
      )}
    </Card>
  );
}

/** Every limit each plan has had; the current one first. */
export function PlanLimitHistory({ history }: { history: TPlanLimitHistoryEntry[] }) {
  if (history.length === 0) return <p className="text-tremor-default text-tremor-content">No plan has had a limit on this meter.</p>;
  return (
    <div className="relative overflow-x-auto">
      <DataTable aria-label="Plan limit history">
        <TableHead>
          <TableRow>
            <TableHeaderCell>Plan</TableHeaderCell>
            <TableHeaderCell className="text-right">Limit</TableHeaderCell>
            <TableHeaderCell className="text-right">Soft limit</TableHeaderCell>
            <TableHeaderCell>Hard cap</TableHeaderCell>
            <TableHeaderCell className="text-right">Overage price</TableHeaderCell>
            <TableHeaderCell>From</TableHeaderCell>
            <TableHeaderCell>Until</TableHeaderCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {history.map((h) => (
            <TableRow key={`${h.plan_name}-${h.effective_from}`} data-testid="limit-history-row" data-plan={h.plan_name} data-current={h.effective_to === null ? 'true' : 'false'}>
              <TableCell className="font-medium text-tremor-content-strong">{h.plan_name}</TableCell>
              <TableCell className="text-right tabular-nums">{h.limit_value === null ? 'Unlimited' : formatDecimal(h.limit_value)}</TableCell>
              <TableCell className="text-right tabular-nums">{h.soft_limit_threshold === null ? '—' : formatFractionAsPercent(h.soft_limit_threshold)}</TableCell>
              <TableCell>{h.hard_cap ? 'Yes' : 'No'}</TableCell>
              <TableCell className="text-right tabular-nums">{h.overage_price === null ? '—' : formatMoney(h.overage_price)}</TableCell>
              <TableCell>
                <Timestamp iso={h.effective_from} withTime />
              </TableCell>
              <TableCell>{h.effective_to === null ? <span className="font-medium text-emerald-700">Current</span> : <Timestamp iso={h.effective_to} withTime />}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </DataTable>
    </div>
  );
}
