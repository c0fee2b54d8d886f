import { Form, Link, useNavigation, useSubmit } from '@remix-run/react';
import { Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { TTerms, TWhatIfResult } from '../../server/schemas/revenue';
import { Button, buttonClassName } from './buttons';
import { SelectField } from './choice-fields';
import { DataTable } from './data-table';
import { FormAlert, TextField } from './form-field';
import { Period } from './timestamp';
import { customerPath } from '~/lib/dashboard';
import { unitFor } from '~/lib/format';
import { formatMoney } from '~/lib/numbers';
import { formatRevenueQuantity, MoneyDelta, plural, RevenueStat } from './revenue-figures';
import { linkClass } from './styles';

export const WHAT_IF_FIELDS = ['meter', 'plan', 'limit', 'price', 'hard_cap'] as const;
export type WhatIfField = (typeof WHAT_IF_FIELDS)[number];

/**
 * The form as the URL has it (?meter=&plan=&limit=&price=&hard_cap=on&edit=1), so a
 * simulation is a link to share; without edit=1 (or with load=1) the fields start from
 * the plan's current terms.
 */
export type WhatIfValues = { meter: string; plan: string; limit: string; price: string; hard_cap: boolean };

export type WhatIfMeter = { id: string; event_name: string; display_name: string; unit_name: string; plans: Array<{ plan_name: string } & TTerms> };

export type WhatIfView = {
  values: WhatIfValues;
  errors: Partial<Record<WhatIfField, string>>;
  message: string | null;
  result: TWhatIfResult | null;
};

const STATUS_LABELS = { within: 'within the limit', overage: 'in overage', capped: 'capped' } as const;

export const termsText = (terms: TTerms, unit: string) =>
  terms.limit_value === null
    ? 'unlimited'
    : `${formatRevenueQuantity(terms.limit_value)} ${unitFor(formatRevenueQuantity(terms.limit_value), unit)}${terms.hard_cap ? ', hard cap' : terms.overage_price === null ? ', no overage price' : `, then ${formatMoney(terms.overage_price)} each`}`;

function WhatIfForm({ meters, view }: { meters: WhatIfMeter[]; view: WhatIfView }) {
  const submit = useSubmit();
  const navigation = useNavigation();
  const pending = navigation.state === 'loading' && navigation.location?.search.includes('edit=1');
  const { values, errors } = view;
  const meter = meters.find((m) => m.id === values.meter);
  // The plans of the chosen meter; with none chosen (or an unknown one) every plan name, so the form still works without JavaScript.
  const planNames = meter ? meter.plans.map((p) => p.plan_name) : [...new Set(meters.flatMap((m) => m.plans.map((p) => p.plan_name)))].sort();
  const planOptions = [...planNames, ...(values.plan && !planNames.includes(values.plan) ? [values.plan] : [])];
  // Choosing another meter or plan loads its current terms into the fields.
  const load = (next: { meter: string; plan?: string }) =>
    submit(next.plan ? { meter: next.meter, plan: next.plan } : { meter: next.meter }, { method: 'get', preventScrollReset: true, replace: true });
  return (
    <Form method="get" noValidate preventScrollReset className="space-y-4" aria-label="What-if simulation">
      {view.message ? <FormAlert>{view.message}</FormAlert> : null}
      {/* The key resets the fields when the URL changes (another meter or plan, back/forward). */}
      <div key={`${values.meter}|${values.plan}|${values.limit}|${values.price}|${values.hard_cap}`} className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4 lg:items-start">
        <SelectField
          label="Meter"
          name="meter"
          idPrefix="what-if"
          defaultValue={values.meter}
          error={errors.meter}
          onChange={(e) => load({ meter: e.currentTarget.value })}
          options={[
            { value: '', label: 'Choose a meter…' },
            ...meters.map((m) => ({ value: m.id, label: `${m.display_name} (${m.event_name})` })),
            ...(values.meter && !meter ? [{ value: values.meter, label: values.meter }] : []),
          ]}
        />
        <SelectField
          label="Plan"
          name="plan"
          idPrefix="what-if"
          defaultValue={values.plan}
          error={errors.plan}
          onChange={(e) => load({ meter: values.meter, plan: e.currentTarget.value })}
          options={[{ value: '', label: 'Choose a plan…' }, ...planOptions.map((p) => ({ value: p, label: p }))]}
        />
        <TextField
          label="Limit"
          name="limit"
          inputMode="decimal"
          autoComplete="off"
          placeholder="unlimited"
          defaultValue={values.limit}
          error={errors.limit}
          hint={`Per billing period${meter ? `, in ${meter.unit_name}` : ''}. Empty: unlimited.`}
        />
        <TextField
          label="Overage price"
          name="price"
          inputMode="decimal"
          autoComplete="off"
          placeholder="none"
          defaultValue={values.price}
          error={errors.price}
          hint="Per unit beyond the limit. Empty: none."
        />
      </div>
      <div className="flex flex-col gap-3 sm:flex-row sm:items-center sm:justify-between">
        <label className="flex items-start gap-3 text-tremor-default text-tremor-content-strong">
          <input
            type="checkbox"
            name="hard_cap"
            defaultChecked={values.hard_cap}
            aria-describedby="what-if-hard_cap-hint"
            className="mt-0.5 h-4 w-4 rounded border-tremor-border text-tremor-brand focus:ring-tremor-brand-muted"
          />
          <span>
            Hard cap
            <span id="what-if-hard_cap-hint" className="block text-tremor-label text-tremor-content">
              Refuse events past the limit instead of billing overage.
            </span>
            {errors.hard_cap ? <span className="block text-tremor-label text-red-600">{errors.hard_cap}</span> : null}
          </span>
        </label>
        <div className="flex flex-wrap gap-2">
          <input type="hidden" name="edit" value="1" />
          <Button variant="secondary" name="load" value="1" formNoValidate>
            Load current terms
          </Button>
          <Button pending={pending} pendingLabel="Simulating…">
            Simulate
          </Button>
        </div>
      </div>
    </Form>
  );
}

function WhatIfResults({ result }: { result: TWhatIfResult }) {
  const unit = result.unit_name;
  return (
    <div className="mt-6 space-y-4" data-testid="what-if-result" aria-live="polite">
      <p className="text-tremor-default text-tremor-content">
        <span className="font-medium text-tremor-content-strong">{result.plan_name}</span> on{' '}
        <span className="font-medium text-tremor-content-strong">{result.display_name}</span>: {termsText(result.current_terms, unit)} →{' '}
        <span className="font-medium text-tremor-content-strong">{termsText(result.new_terms, unit)}</span>, on the last full billing period of{' '}
        {plural(result.customers_considered, 'customer')} of this plan who could be affected.
      </p>
      <div className="grid gap-4 sm:grid-cols-3">
        <RevenueStat label="Revenue before" value={formatMoney(result.before.revenue)} testId="what-if-before">
          {plural(result.before.customers_in_overage, 'customer')} in overage
        </RevenueStat>
        <RevenueStat label="Revenue after" value={formatMoney(result.after.revenue)} testId="what-if-after">
          {plural(result.after.customers_in_overage, 'customer')} in overage
        </RevenueStat>
        <RevenueStat label="Change" value={<MoneyDelta value={result.delta} />} testId="what-if-delta">
          per billing period, on last period’s usage
        </RevenueStat>
      </div>
      <ul className="grid gap-2 text-tremor-default text-tremor-content sm:grid-cols-3">
        <li data-testid="what-if-newly-capped">
          <span className="font-semibold tabular-nums text-tremor-content-strong">{result.customers_newly_capped}</span> newly capped — their events past the limit would have
          been refused
        </li>
        <li data-testid="what-if-newly-over">
          <span className="font-semibold tabular-nums text-tremor-content-strong">{result.customers_newly_in_overage}</span> newly in overage
        </li>
        <li data-testid="what-if-no-longer-over">
          <span className="font-semibold tabular-nums text-tremor-content-strong">{result.customers_no_longer_in_overage}</span> no longer in overage
        </li>
      </ul>
      {result.affected.length === 0 ? (
        <p className="text-tremor-default text-tremor-content" data-testid="what-if-nobody">
          No customer’s bill or status would change.
        </p>
      ) : (
        <div className="-mx-6 overflow-x-auto">
          <DataTable aria-label="Affected customers">
            <TableHead>
              <TableRow>
                <TableHeaderCell className="pl-6">Customer</TableHeaderCell>
                <TableHeaderCell className="hidden text-right sm:table-cell">Used</TableHeaderCell>
                <TableHeaderCell className="hidden text-right sm:table-cell">Before</TableHeaderCell>
                <TableHeaderCell className="text-right">After</TableHeaderCell>
                <TableHeaderCell className="pr-6 text-right">Change</TableHeaderCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {result.affected.map((c) => (
                <TableRow key={c.user_id} data-testid="what-if-customer">
                  <TableCell className="whitespace-normal pl-6">
                    <Link to={customerPath(c.user_id)} className="block font-medium text-tremor-content-strong hover:text-tremor-brand">
                      {c.user_id}
                    </Link>
                    <span className="block text-tremor-label">
                      <Period start={c.period_start} end={c.period_end} />
                    </span>
                    <span className="text-tremor-label sm:hidden">
                      {formatRevenueQuantity(c.used)} {unitFor(formatRevenueQuantity(c.used), unit)} · was {formatMoney(c.revenue_before)}
                    </span>
                  </TableCell>
                  <TableCell className="hidden text-right tabular-nums sm:table-cell">
                    {formatRevenueQuantity(c.used)} <span className="text-tremor-label">{unitFor(formatRevenueQuantity(c.used), unit)}</span>
                  </TableCell>
                  <TableCell className="hidden text-right tabular-nums sm:table-cell">
                    {formatMoney(c.revenue_before)}
                    <span className="block text-tremor-label">{STATUS_LABELS[c.before]}</span>
                  </TableCell>
                  <TableCell className="text-right tabular-nums">
                    {formatMoney(c.revenue_after)}
                    <span className={`block text-tremor-label ${c.after === 'capped' && c.before !== 'capped' ? 'text-red-600' : ''}`}>{STATUS_LABELS[c.after]}</span>
                  </TableCell>
                  <TableCell className="pr-6 text-right">
                    <MoneyDelta value={c.delta} />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </DataTable>
          {result.affected_count > result.affected.length ? (
            <p className="px-6 pt-3 text-tremor-label text-tremor-content">
              The {result.affected.length} largest changes of {plural(result.affected_count, 'affected customer')}.
            </p>
          ) : null}
        </div>
      )}
    </div>
  );
}

/** The simulator: new terms for one plan on one meter, replayed on each customer's last full period. Nothing is saved. */
export function RevenueWhatIf({
  meters,
  view,
  metersPath,
}: {
  meters: WhatIfMeter[];
  view: WhatIfView;
  metersPath: string;
}) {
  const withPlans = meters.filter((m) => m.plans.length > 0);
  return (
    <Card aria-labelledby="what-if-title" id="what-if">
      <div className="flex flex-col gap-2 sm:flex-row sm:items-start sm:justify-between">
        <div>
          <h2 id="what-if-title" className="text-tremor-title font-semibold text-tremor-content-strong">
            What if…
          </h2>
          <p className="mt-1 max-w-2xl text-tremor-default text-tremor-content">
            Try other terms for one plan on one meter and see what they would have billed on each customer’s <strong>last full billing period</strong> of real usage,
            against the plan’s terms today. <strong>Nothing is saved</strong> — to apply new terms, edit the meter.
          </p>
        </div>
        {view.result ? (
          <Link to={`${metersPath}/${view.result.meter_id}`} className={`${buttonClassName('secondary')} shrink-0`} data-testid="what-if-apply">
            Edit {view.result.event_name} to apply
          </Link>
        ) : null}
      </div>
      {withPlans.length === 0 ? (
        <p className="mt-4 text-tremor-default text-tremor-content" data-testid="what-if-no-plans">
          No meter has plan limits yet, so there is nothing to change.{' '}
          <Link to={metersPath} className={linkClass}>
            Add plan limits to a meter
          </Link>
          .
        </p>
      ) : (
        <div className="mt-4">
          <WhatIfForm meters={withPlans} view={view} />
          {view.result ? <WhatIfResults result={view.result} /> : null}
        </div>
      )}
    </Card>
  );
}
