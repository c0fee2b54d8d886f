import { json, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useLoaderData, useNavigation, useSubmit } from '@remix-run/react';
import { AreaChart, BarChart, Card, LineChart } from '@tremor/react';
import { useEffect, useId, useRef } from 'react';
import type { TTrends, TTrendsInput } from '../../server/schemas/insights.js';
import { ChartTable } from '~/components/chart-table';
import { compactAxis } from '~/components/chart-tooltip';
import { CheckboxField, SelectField } from '~/components/choice-fields';
import { FormAlert, inputClassName } from '~/components/form-field';
import { PageHeader } from '~/components/page-header';
import { requireCreator } from '~/lib/caller.server';
import { dashboardPath } from '~/lib/dashboard';
import { toFormError } from '~/lib/errors.server';
import { isCalendarDay, unitFor } from '~/lib/format';
import { formatChartValue, formatCount, formatDecimal, formatQuantity } from '~/lib/numbers';
import { pageHeaders } from '~/lib/page-headers';

export const meta: MetaFunction = () => [{ title: 'Trends · Staryer Usage' }];

export const headers = pageHeaders;

const RANGES = [
  { value: '24h', label: 'Last 24 hours', grain: 'hour', count: 24 },
  { value: '7d', label: 'Last 7 days', grain: 'day', count: 7 },
  { value: '30d', label: 'Last 30 days', grain: 'day', count: 30 },
  { value: '90d', label: 'Last 90 days', grain: 'day', count: 90 },
  { value: 'month', label: 'This month', grain: 'day', count: 0 },
  { value: '12m', label: 'Last 12 months', grain: 'month', count: 12 },
  { value: 'custom', label: 'Custom dates', grain: 'day', count: 0 },
] as const;
type RangeName = (typeof RANGES)[number]['value'];
type Grain = TTrends['grain'];
const GRAINS: ReadonlyArray<{ value: Grain; label: string }> = [
  { value: 'hour', label: 'Hourly' },
  { value: 'day', label: 'Daily' },
  { value: 'month', label: 'Monthly' },
];

const DAY_MS = 86_400_000;
const isDate = isCalendarDay;
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** The start of the bucket after the one holding `now`: ranges end there, so the current hour/day/month is included. */
function nextBucket(grain: Grain, now: Date): Date {
  if (grain === 'hour') return new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000 + 3_600_000);
  if (grain === 'day') return new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS);
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

type Params = { meter: string; range: RangeName; grain: Grain; breakdown: string; compare: boolean; from: string; to: string };

function readParams(search: URLSearchParams): Params {
  const get = (name: string) => (search.get(name) ?? '').trim();
  const range = (RANGES.find((r) => r.value === get('range'))?.value ?? '30d') as RangeName;
  const preset = RANGES.find((r) => r.value === range)!;
  const grain = (GRAINS.find((g) => g.value === get('grain'))?.value ?? preset.grain) as Grain;
  return { meter: get('meter'), range, grain, breakdown: get('breakdown') || 'none', compare: get('compare') === 'on', from: get('from'), to: get('to') };
}

/** [from, to) of the chosen range, or the field that is wrong. */
function rangeBounds(params: Params, now: Date): { from: Date; to: Date } | { field: 'from' | 'to'; message: string } {
  const preset = RANGES.find((r) => r.value === params.range)!;
  if (params.range === 'custom') {
    if (!isDate(params.from)) return { field: 'from', message: 'must be a calendar date (YYYY-MM-DD) between 2000 and 2999' };
    if (!isDate(params.to)) return { field: 'to', message: 'must be a calendar date (YYYY-MM-DD) between 2000 and 2999' };
    const from = new Date(`${params.from}T00:00:00Z`);
    const to = new Date(Date.parse(`${params.to}T00:00:00Z`) + DAY_MS);
    if (to <= from) return { field: 'to', message: 'must not be before the start date' };
    return { from, to };
  }
  if (params.range === 'month') return { from: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), to: nextBucket(params.grain, now) };
  const to = nextBucket(preset.grain, now);
  const from = preset.grain === 'month' ? new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() - preset.count, 1)) : new Date(to.getTime() - preset.count * (preset.grain === 'hour' ? 3_600_000 : DAY_MS));
  return { from, to: params.grain === preset.grain ? to : nextBucket(params.grain, now) };
}

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const params = readParams(new URL(request.url).searchParams);
  const { meters } = await caller.meters.list({ include_archived: true });
  const options = meters.map((m) => ({ id: m.id, label: `${m.display_name} (${m.event_name})${m.status === 'archived' ? ' — archived' : ''}`, dimensions: m.rollup_dimensions }));
  const meter = meters.find((m) => m.id === params.meter) ?? meters.find((m) => m.status !== 'archived') ?? meters[0];
  const errors: Record<string, string> = {};
  let trends: TTrends | null = null;
  if (meter) {
    const bounds = rangeBounds(params, new Date());
    if ('field' in bounds) errors[bounds.field] = bounds.message;
    else {
      const dimension = params.breakdown.startsWith('dim:') ? params.breakdown.slice(4) : undefined;
      const input: TTrendsInput = {
        meter_id: meter.id,
        grain: params.grain,
        from: bounds.from.toISOString(),
        to: bounds.to.toISOString(),
        compare: params.compare && !dimension,
        breakdown: dimension !== undefined ? 'dimension' : params.breakdown === 'plan' ? 'plan' : 'none',
        ...(dimension !== undefined ? { dimension } : {}),
      };
      try {
        trends = await caller.insights.trends(input);
      } catch (error) {
        const formError = toFormError(error);
        for (const [field, message] of Object.entries(formError.fields)) errors[field === 'dimension' ? 'breakdown' : field] = message;
        if (Object.keys(formError.fields).length === 0) errors.form = formError.message;
      }
    }
  }
  // The API refuses to compare a breakdown by a property (ZTrendsInput): a ticked "Compare" is
  // then not applied, and the page says so rather than leave the box ticked to no effect.
  const compareRefused = params.compare && params.breakdown.startsWith('dim:');
  return json({ params, meters: options, meterId: meter?.id ?? null, trends, errors, compareRefused }, { headers: { 'Cache-Control': 'private, no-store' } });
}

const HOUR_LABEL = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone: 'UTC' });
const DAY_LABEL = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const MONTH_LABEL = new Intl.DateTimeFormat('en-GB', { month: 'short', year: 'numeric', timeZone: 'UTC' });
const bucketLabel = (grain: Grain, iso: string) => (grain === 'hour' ? HOUR_LABEL : grain === 'day' ? DAY_LABEL : MONTH_LABEL).format(new Date(iso));

const CURRENT = 'This range';
const PREVIOUS = 'Previous range';
const COLORS = ['indigo', 'cyan', 'amber', 'emerald', 'rose', 'violet', 'lime', 'fuchsia', 'gray'];

function change(current: string, previous: string): string | null {
  const c = Number(current);
  const p = Number(previous);
  if (!Number.isFinite(c) || !Number.isFinite(p) || p === 0) return null;
  const pct = ((c - p) / p) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %`;
}

/** The axis compact, the tooltip (and the table view) in full. */
const axisProps = { ...compactAxis(formatChartValue), yAxisWidth: 64 };

/** A bucket's total over its series: the sum, or for a max meter the largest. */
const combineSeries = (trends: TTrends, values: number[]) => (trends.aggregation_type === 'max' ? Math.max(0, ...values) : values.reduce((a, b) => a + b, 0));

/** This range's total per bucket (over the series when broken down), beside the previous range's. */
function CompareChart({ trends, previous }: { trends: TTrends; previous: NonNullable<TTrends['previous']> }) {
  const data = trends.points.map((p, i) => ({ bucket: bucketLabel(trends.grain, p.bucket), [CURRENT]: combineSeries(trends, Object.values(p.values)), [PREVIOUS]: previous.points[i]?.value ?? 0 }));
  return <LineChart className="h-72" data={data} index="bucket" categories={[CURRENT, PREVIOUS]} colors={['indigo', 'gray']} {...axisProps} />;
}

/** This range, one series per plan or property value (or the total). */
function SeriesChart({ trends, brokenDown }: { trends: TTrends; brokenDown: boolean }) {
  const data = trends.points.map((p) => ({ bucket: bucketLabel(trends.grain, p.bucket), ...p.values }));
  const common = { className: 'h-72', data, index: 'bucket', categories: trends.series, colors: COLORS.slice(0, trends.series.length), ...axisProps };
  // Max meters: series are not parts of a whole, so they are not stacked.
  const stack = trends.series.length > 1 && trends.aggregation_type !== 'max';
  // A breakdown names its series even when there is one (a single plan is still "which plan").
  const showLegend = trends.series.length > 1 || brokenDown;
  if (trends.grain === 'month') return <BarChart {...common} stack={stack} showLegend={showLegend} />;
  return <AreaChart {...common} stack={stack} showLegend={showLegend} />;
}

export default function TrendsPage() {
  const { params, meters, meterId, trends, errors, compareRefused } = useLoaderData<typeof loader>();
  const breakdownLabel = params.breakdown === 'plan' ? 'plan' : params.breakdown.startsWith('dim:') ? `property ${params.breakdown.slice(4)}` : null;
  const navigation = useNavigation();
  const submit = useSubmit();
  const loading = navigation.state === 'loading' && navigation.location.pathname === dashboardPath('trends');
  const dimensions = meters.find((m) => m.id === meterId)?.dimensions ?? [];
  const fromId = useId();
  const toId = useId();
  const dateErrorId = useId();
  // The fields are rebuilt for each new set of options (their defaults are the loaded ones):
  // the one the user just changed gets the focus back, or a keyboard user arrowing through
  // the ranges would be sent to <body> at each step.
  const form = useRef<HTMLFormElement>(null);
  const changed = useRef<string | null>(null);
  const fieldsKey = JSON.stringify(params);
  useEffect(() => {
    const name = changed.current;
    changed.current = null;
    const field = name ? form.current?.elements.namedItem(name) : null;
    if (field instanceof HTMLElement && (document.activeElement === null || document.activeElement === document.body)) field.focus();
  }, [fieldsKey]);

  if (meters.length === 0) {
    return (
      <>
        <PageHeader title="Trends" description="Usage of each meter over hours, days and months." />
        <Card className="max-w-2xl" data-testid="trends-empty">
          <h2 className="text-tremor-title font-semibold text-tremor-content-strong">No meters yet</h2>
          <p className="mt-1 text-tremor-default text-tremor-content">Trends chart what your meters measure. Create a meter, send events, and come back.</p>
          <Link to={dashboardPath('meters')} className="mt-4 inline-block font-medium text-tremor-brand hover:text-tremor-brand-emphasis">
            Go to Meters
          </Link>
        </Card>
      </>
    );
  }

  return (
    <>
      <PageHeader title="Trends" description="Usage of each meter over hours, days and months, broken down by plan or property, and against the previous range. Times are UTC." />
      <Form
        ref={form}
        method="get"
        aria-label="Chart options"
        className="mb-6"
        onChange={(event) => {
          // Presets apply at once; custom dates wait for the button.
          const target = event.target as HTMLInputElement;
          // A new range starts at its own granularity (hourly for 24 hours, monthly for 12 months…).
          const preset = RANGES.find((r) => r.value === target.value);
          const grain = event.currentTarget.elements.namedItem('grain');
          if (target.name === 'range' && preset && grain instanceof HTMLSelectElement) grain.value = preset.grain;
          if (target.type !== 'date') {
            changed.current = target.name;
            submit(event.currentTarget, { replace: true, preventScrollReset: true });
          }
        }}
      >
        <div key={fieldsKey} className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4 lg:items-start">
          <SelectField label="Meter" name="meter" idPrefix="trend" defaultValue={meterId ?? ''} options={meters.map((m) => ({ value: m.id, label: m.label }))} />
          <SelectField label="Range" name="range" idPrefix="trend" defaultValue={params.range} options={RANGES.map((r) => ({ value: r.value, label: r.label }))} />
          <SelectField label="Granularity" name="grain" idPrefix="trend" defaultValue={params.grain} error={errors.grain} options={GRAINS} />
          <SelectField
            label="Break down by"
            name="breakdown"
            idPrefix="trend"
            defaultValue={params.breakdown}
            error={errors.breakdown}
            options={[{ value: 'none', label: 'Nothing (total)' }, { value: 'plan', label: 'Plan' }, ...dimensions.map((d) => ({ value: `dim:${d}`, label: `Property: ${d}` }))]}
          />
          {params.range === 'custom' ? (
            <>
              <div>
                <label htmlFor={fromId} className="block text-tremor-default font-medium text-tremor-content-strong">
                  From
                </label>
                <input id={fromId} name="from" type="date" defaultValue={params.from || isoDay(new Date(Date.now() - 30 * DAY_MS))} className={`mt-1.5 ${inputClassName}`} aria-invalid={errors.from ? true : undefined} aria-describedby={errors.from ? dateErrorId : undefined} />
              </div>
              <div>
                <label htmlFor={toId} className="block text-tremor-default font-medium text-tremor-content-strong">
                  To (inclusive)
                </label>
                <input id={toId} name="to" type="date" defaultValue={params.to || isoDay(new Date())} className={`mt-1.5 ${inputClassName}`} aria-invalid={errors.to ? true : undefined} aria-describedby={errors.to ? dateErrorId : undefined} />
              </div>
            </>
          ) : null}
          <CheckboxField
            id="trend-compare"
            name="compare"
            label="Compare with the previous range"
            description={params.breakdown === 'none' || params.breakdown === 'plan' ? 'The same length just before.' : 'Not with a property breakdown.'}
            defaultChecked={params.compare}
          />
          <div className="sm:col-span-2 lg:col-span-1 lg:self-end">
            <button
              type="submit"
              className="rounded-tremor-default bg-tremor-brand px-4 py-2 text-tremor-default font-medium text-tremor-brand-inverted shadow-tremor-input hover:bg-tremor-brand-emphasis focus:outline-none focus-visible:ring-2 focus-visible:ring-tremor-brand-muted focus-visible:ring-offset-2"
            >
              Show
            </button>
          </div>
        </div>
      </Form>

      {errors.from || errors.to || errors.form ? (
        <div className="mb-6" id={dateErrorId}>
          <FormAlert>
            {errors.from ? `Range: ${errors.from}.` : errors.to ? `End: ${errors.to}.` : errors.form}
          </FormAlert>
        </div>
      ) : null}

      {compareRefused ? (
        <p role="status" className="mb-6 rounded-tremor-default border border-amber-200 bg-amber-50 px-4 py-3 text-tremor-default text-amber-800" data-testid="trends-compare-refused">
          Not compared with the previous range: a comparison is not available with a breakdown by a property. To compare, choose “Nothing (total)” or “Plan” under
          “Break down by”; to keep this breakdown, untick “Compare”.
        </p>
      ) : null}

      {trends ? (
        <div className={`space-y-6 transition-opacity ${loading ? 'opacity-50' : ''}`} aria-busy={loading} data-testid="trends">
          {loading ? (
            <p role="status" className="text-tremor-label text-tremor-content">
              Updating…
            </p>
          ) : null}
          <div className="grid grid-cols-1 gap-4 sm:grid-cols-3">
            <Card className="p-5">
              <p className="text-tremor-default text-tremor-content">{trends.aggregation_type === 'max' ? 'Peak in range' : 'Total in range'}</p>
              <p className="text-3xl font-semibold tabular-nums text-tremor-content-strong" data-testid="trend-total" title={`Exactly ${formatDecimal(trends.total)} ${unitFor(formatDecimal(trends.total), trends.unit_name)}`}>
                {formatQuantity(trends.total)} <span className="text-tremor-default font-normal text-tremor-content">{unitFor(formatQuantity(trends.total), trends.unit_name)}</span>
              </p>
            </Card>
            <Card className="p-5">
              <p className="text-tremor-default text-tremor-content">Events</p>
              <p className="text-3xl font-semibold tabular-nums text-tremor-content-strong" data-testid="trend-events">
                {formatCount(trends.events)}
              </p>
            </Card>
            <Card className="p-5">
              <p className="text-tremor-default text-tremor-content">Previous range</p>
              {trends.previous ? (
                <p className="text-3xl font-semibold tabular-nums text-tremor-content-strong" data-testid="trend-previous">
                  {formatQuantity(trends.previous.total)}{' '}
                  <span className="text-tremor-default font-normal text-tremor-content">
                    {[unitFor(formatQuantity(trends.previous.total), trends.unit_name), change(trends.total, trends.previous.total)].filter(Boolean).join(' · ')}
                  </span>
                </p>
              ) : (
                <p className="mt-2 text-tremor-default text-tremor-content">
                  {compareRefused ? 'Not with a breakdown by a property (see above).' : 'Tick “Compare” to see it.'}
                </p>
              )}
            </Card>
          </div>
          <Card>
            <h2 className="text-tremor-title font-semibold text-tremor-content-strong">
              {trends.event_name} · {GRAINS.find((g) => g.value === trends.grain)?.label.toLowerCase()} ({trends.unit_name})
            </h2>
            {trends.aggregation_type === 'unique' ? (
              <p className="mt-1 text-tremor-label text-tremor-content" data-testid="trends-unique-note">
                Each distinct value counts in the hour it was first seen in its customer’s billing period: a point spanning two billing periods can count a returning value once
                in each. A customer’s exact distinct count for a period is on their page.
              </p>
            ) : null}
            {trends.events === 0 && !trends.previous?.points.some((p) => p.value > 0) ? (
              <p className="mt-4 text-tremor-default text-tremor-content" data-testid="trends-no-data">
                No usage in this range.
              </p>
            ) : (
              <>
                {trends.previous && breakdownLabel ? (
                  <h3 className="mt-4 text-tremor-default font-semibold text-tremor-content-strong">In total, against the previous range</h3>
                ) : null}
                <div className="mt-4" data-testid="trend-chart">
                  {trends.previous ? <CompareChart trends={trends} previous={trends.previous} /> : <SeriesChart trends={trends} brokenDown={breakdownLabel !== null} />}
                </div>
                {/* Comparing keeps the breakdown: the previous range is a total, so this range's split is its own chart. */}
                {trends.previous && breakdownLabel ? (
                  <>
                    <h3 className="mt-6 text-tremor-default font-semibold text-tremor-content-strong">This range by {breakdownLabel}</h3>
                    <div className="mt-4" data-testid="trend-breakdown-chart">
                      <SeriesChart trends={trends} brokenDown />
                    </div>
                  </>
                ) : null}
              </>
            )}
            <ChartTable
              label={`${trends.series.length > 1 ? 'Usage per series' : 'Usage'}, per ${trends.grain} (UTC)`}
              columns={['Start (UTC)', ...trends.series, ...(trends.previous && breakdownLabel ? [CURRENT] : []), ...(trends.previous ? [PREVIOUS] : [])]}
              rows={trends.points.map((p, i) => ({
                key: p.bucket,
                cells: [
                  bucketLabel(trends.grain, p.bucket),
                  ...trends.series.map((s) => formatChartValue(p.values[s] ?? 0)),
                  ...(trends.previous && breakdownLabel ? [formatChartValue(combineSeries(trends, Object.values(p.values)))] : []),
                  ...(trends.previous ? [formatChartValue(trends.previous.points[i]?.value ?? 0)] : []),
                ],
              }))}
            />
          </Card>
        </div>
      ) : null}
    </>
  );
}
