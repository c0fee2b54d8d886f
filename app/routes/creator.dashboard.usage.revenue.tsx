import type { ReactNode } from 'react';
import { json, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { isRouteErrorResponse, Link, useLoaderData, useRouteError } from '@remix-run/react';
import { Card } from '@tremor/react';
import type { TWhatIfInput } from '../../server/schemas/revenue';
import { buttonClassName } from '~/components/buttons';
import { PageHeader } from '~/components/page-header';
import { Timestamp } from '~/components/timestamp';
import { RevenueByMeter, RevenueByPlan, RevenueSummary } from '~/components/revenue-overview';
import { RevenueWhatIf, type WhatIfField, type WhatIfMeter, type WhatIfValues, type WhatIfView } from '~/components/revenue-what-if';
import { requireCreator } from '~/lib/caller.server';
import { dashboardPath } from '~/lib/dashboard';
import { toFormError } from '~/lib/errors.server';
import type { Caller } from '~/lib/load-context';
import { pageHeaders } from '~/lib/page-headers';
import { linkClass } from '~/components/styles';

export const meta: MetaFunction = () => [{ title: 'Revenue · Staryer Usage' }];

export const headers = pageHeaders;

/** The what-if input's fields → the form's (query-string) names, for the server's field errors. */
const INPUT_FIELDS: Record<string, WhatIfField> = { meter_id: 'meter', plan_name: 'plan', limit_value: 'limit', overage_price: 'price', hard_cap: 'hard_cap' };

/**
 * The simulator's form from the URL. Choosing a meter (and plan) without edit=1, or with
 * load=1, starts from the plan's current terms, so the first run changes nothing and the
 * creator edits from there.
 */
async function runWhatIf(caller: Caller, params: URLSearchParams, meters: WhatIfMeter[]): Promise<WhatIfView> {
  const get = (name: string) => (params.get(name) ?? '').trim();
  const values: WhatIfValues = { meter: get('meter'), plan: get('plan'), limit: get('limit'), price: get('price'), hard_cap: params.get('hard_cap') === 'on' };
  const view: WhatIfView = { values, errors: {}, message: null, result: null };
  if (!values.meter) {
    if (params.get('edit') === '1') view.errors.meter = 'Choose a meter.';
    return view;
  }
  const meter = meters.find((m) => m.id === values.meter);
  if (meter && !values.plan) values.plan = meter.plans[0]?.plan_name ?? '';
  const current = meter?.plans.find((p) => p.plan_name === values.plan);
  if (current && (params.get('edit') !== '1' || params.get('load') === '1')) {
    values.limit = current.limit_value ?? '';
    values.price = current.overage_price ?? '';
    values.hard_cap = current.hard_cap;
  }
  if (!values.plan) {
    view.errors.plan = 'Choose a plan.';
    return view;
  }
  const input: TWhatIfInput = {
    meter_id: values.meter,
    plan_name: values.plan,
    limit_value: values.limit === '' ? null : values.limit,
    overage_price: values.price === '' ? null : values.price,
    hard_cap: values.hard_cap,
  };
  try {
    view.result = await caller.revenue.whatIf(input);
  } catch (error) {
    // Unknown meter or plan, a number that is not one: the field says so and keeps what was typed.
    const formError = toFormError(error);
    for (const [field, message] of Object.entries(formError.fields)) view.errors[INPUT_FIELDS[field] ?? 'meter'] ??= message;
    if (Object.keys(formError.fields).length === 0) view.message = formError.message;
  }
  return view;
}

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const params = new URL(request.url).searchParams;
  const [overview, { meters }] = await Promise.all([caller.revenue.overview(), caller.meters.list({ include_archived: false })]);
  const whatIfMeters: WhatIfMeter[] = meters.map((m) => ({
    id: m.id,
    event_name: m.event_name,
    display_name: m.display_name,
    unit_name: m.unit_name,
    plans: m.plan_limits.map((l) => ({ plan_name: l.plan_name, limit_value: l.limit_value, overage_price: l.overage_price, hard_cap: l.hard_cap })),
  }));
  const whatIf = await runWhatIf(caller, params, whatIfMeters);
  return json({ overview, meters: whatIfMeters, whatIf }, { headers: { 'Cache-Control': 'private, no-store' } });
}

function Empty({ testId, title, children }: { testId: string; title: string; children: ReactNode }) {
  return (
    <Card data-testid={testId}>
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">{title}</h2>
      <div className="mt-2 space-y-2 text-tremor-default text-tremor-content">{children}</div>
    </Card>
  );
}

export default function RevenuePage() {
  const { overview, meters, whatIf } = useLoaderData<typeof loader>();
  const noOverage = overview.totals.customers_projected === 0;
  return (
    <>
      <PageHeader
        title="Revenue"
        description={
          <>
            Overage your customers owe in their current billing period — so far and projected to the period’s end — and what other plan terms would have billed. As of{' '}
            <Timestamp iso={overview.as_of} withTime />.
          </>
        }
      />
      <div className="space-y-6">
        {overview.meters_count === 0 ? (
          <Empty testId="revenue-no-meters" title="No meters yet">
            <p>
              Overage revenue comes from usage beyond a plan’s limit, priced per unit. Create a meter with a plan limit and an overage price on the{' '}
              <Link to={dashboardPath('meters')} className={linkClass}>
                Meters
              </Link>{' '}
              page to see it here.
            </p>
          </Empty>
        ) : (
          <>
            <RevenueSummary overview={overview} />
            {overview.customers_count === 0 ? (
              <Empty testId="revenue-no-customers" title="No customers yet">
                <p>
                  Customers appear with their first event (on your default plan) or when you set their plan with <code>PUT /api/usage/customers/&#123;user_id&#125;</code>.
                  Create an API key on the{' '}
                  <Link to={dashboardPath('keys')} className={linkClass}>
                    API keys
                  </Link>{' '}
                  page and start tracking.
                </p>
              </Empty>
            ) : noOverage ? (
              <p role="status" className="rounded-tremor-default border border-tremor-border bg-tremor-background-subtle px-4 py-3 text-tremor-default text-tremor-content" data-testid="revenue-no-overage">
                No customer is over a limit this period, and none is on course to pass one by the end of their period.
              </p>
            ) : null}
            <RevenueByMeter overview={overview} />
            <RevenueByPlan overview={overview} />
          </>
        )}
        <RevenueWhatIf meters={meters} view={whatIf} metersPath={dashboardPath('meters')} />
      </div>
    </>
  );
}

/** A failure while loading the figures: said in the page, with a way to try again. */
export function ErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  return (
    <>
      <PageHeader title="Revenue" />
      <Card data-testid="revenue-error">
        <h2 className="text-tremor-title font-semibold text-tremor-content-strong">{status === 503 ? 'The database is busy' : 'The revenue figures could not be loaded'}</h2>
        <p className="mt-2 text-tremor-default text-tremor-content">
          {status === 503 ? 'It did not answer in time. Nothing was changed; try again in a few seconds.' : 'Something went wrong on our side. Nothing was changed; try again.'}
        </p>
        <Link to={dashboardPath('revenue')} className={`mt-4 ${buttonClassName('secondary')}`} reloadDocument>
          Try again
        </Link>
      </Card>
    </>
  );
}
