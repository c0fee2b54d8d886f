import { json, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useLoaderData, useNavigation } from '@remix-run/react';
import { Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { TTopCustomers } from '../../server/schemas/customers';
import { Button, buttonClassName } from '~/components/buttons';
import { SelectField } from '~/components/choice-fields';
import { LimitBar } from '~/components/customer-usage';
import { DataTable } from '~/components/data-table';
import { inputClassName } from '~/components/form-field';
import { PageHeader } from '~/components/page-header';
import { Period } from '~/components/timestamp';
import { requireCreator } from '~/lib/caller.server';
import { customerPath, dashboardPath } from '~/lib/dashboard';
import { toFormError } from '~/lib/errors.server';
import { fieldMessage } from '~/lib/form';
import { pageHeaders } from '~/lib/page-headers';
import { unitFor } from '~/lib/format';
import { formatDecimal, formatMoney } from '~/lib/numbers';
import { linkClass, codeClass as code } from '~/components/styles';

export const meta: MetaFunction = () => [{ title: 'Top users · Staryer Usage' }];

export const headers = pageHeaders;

const SORTS = [
  { value: 'usage', label: 'Usage (highest first)' },
  { value: 'percent', label: '% of limit (highest first)' },
  { value: 'overage', label: 'Overage $ (highest first)' },
  { value: 'user_id', label: 'User id (A–Z)' },
] as const;
type Sort = (typeof SORTS)[number]['value'];
const PAGE_SIZES = ['25', '50'] as const;

/** The URL is the state (?meter=&period=&q=&sort=&size=&cursor=&page=): a ranked list is a link to share. */
type Filters = { meter: string; period: 'current' | 'previous'; q: string; sort: Sort; size: '25' | '50'; cursor: string; page: number };

function readFilters(params: URLSearchParams): Filters {
  const get = (name: string) => (params.get(name) ?? '').trim();
  const sort = SORTS.find((s) => s.value === get('sort'))?.value ?? 'usage';
  const page = Number.parseInt(get('page'), 10);
  return {
    meter: get('meter'),
    period: get('period') === 'previous' ? 'previous' : 'current',
    q: get('q'),
    sort,
    size: get('size') === '50' ? '50' : '25',
    cursor: get('cursor'),
    // A page number only ranks the rows of its cursor: without one, the rows are the first page.
    page: get('cursor') && Number.isSafeInteger(page) && page > 1 ? page : 1,
  };
}

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const filters = readFilters(new URL(request.url).searchParams);
  const { meters } = await caller.meters.list({ include_archived: false });
  const meterOptions = meters.map((m) => ({ id: m.id, event_name: m.event_name, display_name: m.display_name, unit_name: m.unit_name }));
  const meterId = meters.some((m) => m.id === filters.meter) ? filters.meter : meters[0]?.id;
  const errors: { q?: string; cursor?: string; meter?: string } = {};
  if (filters.meter && meterId !== filters.meter) errors.meter = 'is not one of your live meters; showing the first one.';
  let top: TTopCustomers | null = null;
  if (meterId) {
    const input = {
      meter_id: meterId,
      period: filters.period,
      sort: filters.sort,
      limit: Number(filters.size),
      ...(filters.q ? { search: filters.q } : {}),
    };
    try {
      top = await caller.customers.top({ ...input, ...(filters.cursor ? { cursor: filters.cursor } : {}) });
    } catch (error) {
      const formError = toFormError(error);
      if (formError.status !== 422) throw error;
      // A hand-edited link: a stale cursor starts again from the first page; a bad search says so.
      if (formError.fields.cursor) errors.cursor = 'This page link has expired; showing the first page.';
      if (formError.fields.search) errors.q = formError.fields.search;
      top = errors.q ? null : await caller.customers.top(input);
      if (errors.cursor) filters.page = 1;
    }
  }
  return json({ meters: meterOptions, meterId: meterId ?? null, filters, errors, top }, { headers: { 'Cache-Control': 'private, no-store' } });
}

type LoaderData = ReturnType<typeof useLoaderData<typeof loader>>;

function FilterForm({ meters, meterId, filters, errors }: Pick<LoaderData, 'meters' | 'meterId' | 'filters' | 'errors'>) {
  const navigation = useNavigation();
  return (
    <Form method="get" className="px-6 pt-6" aria-label="Choose meter, period and order">
      {/* Six fields on one row cut their text at 1280 px ("Current per"): meter and search take the
          first row, the rest the second, until a screen wide enough for all six. */}
      <div
        key={JSON.stringify([filters, meterId])}
        className="grid grid-cols-2 gap-4 lg:grid-cols-4 lg:items-start 2xl:grid-cols-[minmax(0,1.4fr)_minmax(0,1.4fr)_minmax(0,1fr)_minmax(0,1.2fr)_minmax(0,0.6fr)_auto]"
      >
        <SelectField
          className="col-span-2 2xl:col-span-1"
          label="Meter"
          name="meter"
          idPrefix="top"
          defaultValue={meterId ?? ''}
          error={errors.meter}
          options={meters.map((m) => ({ value: m.id, label: `${m.display_name} (${m.event_name})` }))}
        />
        <div className="col-span-2 2xl:col-span-1">
          <label htmlFor="top-q" className="block text-tremor-default font-medium text-tremor-content-strong">
            Search
          </label>
          <input
            id="top-q"
            name="q"
            type="search"
            placeholder="User id, email or name…"
            maxLength={256}
            defaultValue={filters.q}
            aria-invalid={errors.q ? true : undefined}
            aria-describedby={errors.q ? 'top-q-error' : 'top-q-hint'}
            className={`mt-1.5 ${inputClassName}`}
          />
          {errors.q ? (
            <p id="top-q-error" className="mt-1.5 text-tremor-label text-red-600">
              {fieldMessage('Search', errors.q)}
            </p>
          ) : (
            <p id="top-q-hint" className="mt-1.5 text-tremor-label text-tremor-content">
              Starts with, any case.
            </p>
          )}
        </div>
        <SelectField
          label="Period"
          name="period"
          idPrefix="top"
          defaultValue={filters.period}
          options={[
            { value: 'current', label: 'Current period' },
            { value: 'previous', label: 'Previous period' },
          ]}
        />
        <SelectField label="Order by" name="sort" idPrefix="top" defaultValue={filters.sort} options={SORTS} />
        <SelectField label="Per page" name="size" idPrefix="top" defaultValue={filters.size} options={PAGE_SIZES.map((s) => ({ value: s, label: s }))} />
        <div className="col-span-2 flex gap-2 lg:col-span-1 lg:pt-7">
          <Button variant="secondary" pending={navigation.state === 'loading' && navigation.location.pathname === dashboardPath('customers')} pendingLabel="Loading…">
            Show
          </Button>
        </div>
      </div>
    </Form>
  );
}

function NoMeters() {
  return (
    <Card data-testid="top-no-meters">
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">No meters yet</h2>
      <p className="mt-2 text-tremor-default text-tremor-content">
        Top users ranks your customers on a meter. Create one on the{' '}
        <Link to={dashboardPath('meters')} className={linkClass}>
          Meters
        </Link>{' '}
        page, then send events for it.
      </p>
    </Card>
  );
}

function NoCustomers({ eventName, period, meterId }: { eventName: string; period: Filters['period']; meterId: string | null }) {
  // The previous period may be empty for a creator with customers now (their first month):
  // that is not a first run, and the setup steps would say otherwise.
  if (period === 'previous') {
    return (
      <div className="px-6 pb-8 pt-2" data-testid="top-empty">
        <h2 className="text-tremor-title font-semibold text-tremor-content-strong">No usage in the previous period</h2>
        <p className="mt-2 max-w-2xl text-tremor-default text-tremor-content">
          No customer used <span className="font-mono">{eventName}</span> in their previous billing period.{' '}
          <Link to={`?${new URLSearchParams({ meter: meterId ?? '', period: 'current' }).toString()}`} className={linkClass}>
            See the current period
          </Link>
        </p>
      </div>
    );
  }
  return (
    <div className="px-6 pb-8 pt-2" data-testid="top-empty">
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">No customers yet</h2>
      <p className="mt-2 max-w-2xl text-tremor-default text-tremor-content">
        A customer appears here with their first accepted event on this meter in the period. Send one from your backend with{' '}
        <code className={code}>POST /api/usage/track</code> and <code className={code}>{`{"event_name": "${eventName}", "user_id": "…"}`}</code>, or with the SDK’s{' '}
        <code className={code}>trackUsage</code>; create an API key on the{' '}
        <Link to={dashboardPath('keys')} className={linkClass}>
          API keys
        </Link>{' '}
        page.
      </p>
    </div>
  );
}

function Overage({ c, unit }: { c: TTopCustomers['customers'][number]; unit: string }) {
  if (c.overage_quantity === '0') return <span className="text-tremor-content-subtle">—</span>;
  return (
    <>
      <span className="block font-medium text-red-700">{formatMoney(c.overage_amount)}</span>
      <span className="text-tremor-label">
        {formatDecimal(c.overage_quantity)} {unitFor(formatDecimal(c.overage_quantity), unit)}
      </span>
    </>
  );
}

const who = (c: TTopCustomers['customers'][number]) => [c.name, c.email].filter(Boolean).join(' · ');

/**
 * At 1280 px the card leaves about 950 px for seven figures: plan and period share the last
 * column (each customer's own period under their plan) and the cells are a little narrower
 * than Tremor's, so the Period stays on screen with large figures and long names (cut, whole on
 * hover). Wider still, the table scrolls inside its card (DataTable).
 */
const cell = 'px-3';

function TopTable({ top, rankFrom }: { top: TTopCustomers; rankFrom: number }) {
  const unit = top.meter.unit_name;
  return (
    <DataTable aria-label={`Top users on ${top.meter.display_name}`}>
      <TableHead>
        <TableRow>
          <TableHeaderCell className="pl-6 pr-3 text-right">#</TableHeaderCell>
          <TableHeaderCell className={cell}>Customer</TableHeaderCell>
          <TableHeaderCell className={`${cell} text-right`}>Usage ({unit})</TableHeaderCell>
          <TableHeaderCell className={cell}>% of limit</TableHeaderCell>
          <TableHeaderCell className={`${cell} text-right`}>Overage</TableHeaderCell>
          <TableHeaderCell className="pl-3 pr-6">Plan · period</TableHeaderCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {top.customers.map((c, i) => (
          <TableRow key={c.user_id} data-testid="top-row" data-user-id={c.user_id}>
            <TableCell className="pl-6 pr-3 text-right tabular-nums text-tremor-content">{rankFrom + i}</TableCell>
            <TableCell className={`${cell} max-w-[13rem]`}>
              <Link to={customerPath(c.user_id)} className={`block truncate ${linkClass}`} title={c.user_id}>
                {c.user_id}
              </Link>
              {who(c) ? (
                <span className="block truncate text-tremor-label text-tremor-content" title={who(c)}>
                  {who(c)}
                </span>
              ) : null}
            </TableCell>
            <TableCell className={`${cell} text-right tabular-nums text-tremor-content-strong`} data-testid="top-used">
              {formatDecimal(c.used)}
              {c.limit !== null ? <span className="block text-tremor-label text-tremor-content">of {formatDecimal(c.limit)}</span> : null}
            </TableCell>
            <TableCell className={cell}>
              <LimitBar percent={c.percent_of_limit} limit={c.limit} used={c.used} label={`${c.user_id}: share of the limit used`} compact />
            </TableCell>
            <TableCell className={`${cell} text-right tabular-nums`} data-testid="top-overage">
              <Overage c={c} unit={unit} />
            </TableCell>
            <TableCell className="max-w-[13rem] pl-3 pr-6" data-testid="top-plan-period">
              {c.plan_name ? (
                <span className="block truncate" title={c.plan_name}>
                  {c.plan_name}
                </span>
              ) : (
                <span className="block text-tremor-content-subtle">No plan</span>
              )}
              <span className="block text-tremor-label text-tremor-content">
                <Period start={c.period_start} end={c.period_end} />
              </span>
            </TableCell>
          </TableRow>
        ))}
      </TableBody>
    </DataTable>
  );
}

/** Phones: one card per customer instead of a table to scroll sideways. */
function TopList({ top, rankFrom }: { top: TTopCustomers; rankFrom: number }) {
  const unit = top.meter.unit_name;
  return (
    <ol aria-label={`Top users on ${top.meter.display_name}`} className="divide-y divide-tremor-border border-t border-tremor-border">
      {top.customers.map((c, i) => (
        <li key={c.user_id} className="flex gap-3 px-6 py-4">
          <span className="w-6 shrink-0 text-right tabular-nums text-tremor-content">{rankFrom + i}</span>
          <div className="min-w-0 flex-1">
            <Link to={customerPath(c.user_id)} className={`block truncate ${linkClass}`}>
              {c.user_id}
            </Link>
            <span className="block truncate text-tremor-label text-tremor-content">{[c.plan_name ?? 'No plan', who(c)].filter(Boolean).join(' · ')}</span>
            <div className="mt-2 flex items-start justify-between gap-3">
              <div className="min-w-0 flex-1">
                <p className="tabular-nums text-tremor-default text-tremor-content-strong">
                  {formatDecimal(c.used)}
                  {c.limit !== null ? ` / ${formatDecimal(c.limit)}` : ''} {c.limit !== null ? unit : unitFor(formatDecimal(c.used), unit)}
                </p>
                <LimitBar percent={c.percent_of_limit} limit={c.limit} used={c.used} label={`${c.user_id}: share of the limit used`} />
              </div>
              <div className="shrink-0 text-right tabular-nums">
                <Overage c={c} unit={unit} />
              </div>
            </div>
          </div>
        </li>
      ))}
    </ol>
  );
}

export default function TopUsersPage() {
  const { meters, meterId, filters, errors, top } = useLoaderData<typeof loader>();
  const size = Number(filters.size);
  const rankFrom = (filters.page - 1) * size + 1;
  const base = new URLSearchParams(Object.entries({ meter: meterId ?? '', period: filters.period, q: filters.q, sort: filters.sort, size: filters.size }).filter(([, v]) => v));
  const nextParams = new URLSearchParams(base);
  if (top?.next_cursor) {
    nextParams.set('cursor', top.next_cursor);
    nextParams.set('page', String(filters.page + 1));
  }
  return (
    <>
      <PageHeader
        title="Top users"
        description="Your customers ranked on one meter, each in their own billing period: usage, how much of their plan’s limit it is, and the overage it costs them."
      />
      {meters.length === 0 || !top ? (
        meters.length === 0 ? (
          <NoMeters />
        ) : (
          <Card className="p-0">
            <FilterForm meters={meters} meterId={meterId} filters={filters} errors={errors} />
            <div className="h-6" />
          </Card>
        )
      ) : (
        <Card className="p-0">
          <FilterForm meters={meters} meterId={meterId} filters={filters} errors={errors} />
          {errors.cursor ? (
            <p role="status" className="mx-6 mt-4 rounded-tremor-default border border-amber-200 bg-amber-50 px-3 py-2 text-tremor-default text-amber-800">
              {errors.cursor}
            </p>
          ) : null}
          <p className="px-6 pb-2 pt-5 text-tremor-default text-tremor-content" data-testid="top-summary">
            {top.total === 0
              ? null
              : `${top.total.toLocaleString('en-US')} ${top.total === 1 ? 'customer' : 'customers'} with usage of ${top.meter.event_name} in their ${filters.period} period${filters.q ? ` matching “${filters.q}”` : ''}. Showing ${rankFrom.toLocaleString('en-US')}–${(rankFrom + top.customers.length - 1).toLocaleString('en-US')}.`}
          </p>
          {top.total === 0 && !filters.q ? (
            <NoCustomers eventName={top.meter.event_name} period={filters.period} meterId={meterId} />
          ) : top.customers.length === 0 ? (
            <p className="px-6 pb-8 text-tremor-default text-tremor-content" data-testid="top-none-match">
              {filters.q ? `No customer’s user id, email or name starts with “${filters.q}”.` : 'No more customers.'}{' '}
              <Link to={`?${new URLSearchParams({ meter: meterId ?? '', period: filters.period }).toString()}`} className={linkClass}>
                Show all
              </Link>
            </p>
          ) : (
            <>
              <div className="hidden sm:block">
                <TopTable top={top} rankFrom={rankFrom} />
              </div>
              <div className="sm:hidden">
                <TopList top={top} rankFrom={rankFrom} />
              </div>
            </>
          )}
          {top.next_cursor || filters.cursor ? (
            <nav aria-label="Pages" className="flex items-center justify-between gap-3 border-t border-tremor-border px-6 py-3">
              {filters.cursor ? (
                <Link to={`?${base.toString()}`} className={buttonClassName('small')}>
                  ← First page
                </Link>
              ) : (
                <span />
              )}
              {top.next_cursor ? (
                <Link to={`?${nextParams.toString()}`} className={buttonClassName('small')} rel="next">
                  Next {size} →
                </Link>
              ) : null}
            </nav>
          ) : null}
        </Card>
      )}
    </>
  );
}
