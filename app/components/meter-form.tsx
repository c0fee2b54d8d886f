import { Form, useNavigation } from '@remix-run/react';
import { Card } from '@tremor/react';
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { AGGREGATION_TYPES, BILLING_MODELS, DURATION_UNITS, ZCreateMeterInput, ZUpdateMeterInput, type TMeter } from '../../server/schemas/meters';
import { Button } from '~/components/buttons';
import { SelectField } from '~/components/choice-fields';
import { CsrfField } from '~/components/csrf-field';
import { FormAlert, TextField, inputClassName } from '~/components/form-field';
import { fieldMessage } from '~/lib/form';
import { AGGREGATIONS, BILLING_MODEL_LABELS } from './meter-labels';

export { AGGREGATIONS, BILLING_MODEL_LABELS };

/**
 * The meter form of the create and edit pages. Its fields are named by the API's field
 * paths (`plan_limits[0].limit_value`), so the same zod schemas the API uses validate it
 * in the browser before submit, and the server's field errors land next to their field.
 */

type AggregationType = (typeof AGGREGATION_TYPES)[number];

export type PlanLimitValues = {
  plan_name: string;
  limit_value: string;
  overage_price: string;
  soft_limit_threshold: string;
  hard_cap: boolean;
};

/** What the form holds, as typed: every value a string, as the creator wrote it. */
export type MeterFormValues = {
  event_name: string;
  display_name: string;
  description: string;
  aggregation_type: string;
  unit_name: string;
  billing_model: string;
  unique_property: string;
  alert_thresholds: string;
  rollup_dimensions: string;
  plan_limits: PlanLimitValues[];
};

export const EMPTY_PLAN_LIMIT: PlanLimitValues = {
  plan_name: '',
  limit_value: '',
  overage_price: '',
  soft_limit_threshold: '',
  hard_cap: false,
};

export const EMPTY_METER_FORM: MeterFormValues = {
  event_name: '',
  display_name: '',
  description: '',
  aggregation_type: 'count',
  unit_name: '',
  billing_model: 'metered',
  unique_property: '',
  alert_thresholds: '',
  rollup_dimensions: '',
  plan_limits: [EMPTY_PLAN_LIMIT],
};

export function meterFormValuesOf(meter: TMeter): MeterFormValues {
  return {
    event_name: meter.event_name,
    display_name: meter.display_name,
    description: meter.description,
    aggregation_type: meter.aggregation_type,
    unit_name: meter.unit_name,
    billing_model: meter.billing_model,
    unique_property: meter.unique_property ?? '',
    alert_thresholds: meter.alert_thresholds.join(', '),
    rollup_dimensions: meter.rollup_dimensions.join(', '),
    plan_limits: meter.plan_limits.map((l) => ({
      plan_name: l.plan_name,
      limit_value: l.limit_value ?? '',
      overage_price: l.overage_price ?? '',
      soft_limit_threshold: l.soft_limit_threshold ?? '',
      hard_cap: l.hard_cap,
    })),
  };
}

const text = (formData: FormData, name: string): string => {
  const value = formData.get(name);
  return typeof value === 'string' ? value : '';
};

/** The posted (or about to be posted) form as values; plan rows are read in index order until one is missing. */
export function readMeterForm(formData: FormData): MeterFormValues {
  const plan_limits: PlanLimitValues[] = [];
  for (let i = 0; formData.has(`plan_limits[${i}].plan_name`) && i < 200; i++) {
    plan_limits.push({
      plan_name: text(formData, `plan_limits[${i}].plan_name`),
      limit_value: text(formData, `plan_limits[${i}].limit_value`),
      overage_price: text(formData, `plan_limits[${i}].overage_price`),
      soft_limit_threshold: text(formData, `plan_limits[${i}].soft_limit_threshold`),
      hard_cap: formData.get(`plan_limits[${i}].hard_cap`) === 'on',
    });
  }
  return {
    event_name: text(formData, 'event_name'),
    display_name: text(formData, 'display_name'),
    description: text(formData, 'description'),
    aggregation_type: text(formData, 'aggregation_type'),
    unit_name: text(formData, 'unit_name'),
    billing_model: text(formData, 'billing_model'),
    unique_property: text(formData, 'unique_property'),
    alert_thresholds: text(formData, 'alert_thresholds'),
    rollup_dimensions: text(formData, 'rollup_dimensions'),
    plan_limits,
  };
}

const list = (value: string) =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
const orNull = (value: string) => (value.trim() === '' ? null : value.trim());

/** A row left completely empty is not a plan (a spare row the creator did not fill). */
const isFilled = (r: PlanLimitValues) => Boolean(r.plan_name.trim() || r.limit_value.trim() || r.overage_price.trim() || r.soft_limit_threshold.trim() || r.hard_cap);
const filledRows = (rows: PlanLimitValues[]) => rows.filter(isFilled);

/**
 * Field errors name plan rows as the API saw them, empty rows left out (`plan_limits[0]`
 * is the first filled row): renamed to the form's own rows, so that each message shows
 * under the row it is about.
 */
export function planRowFields(fields: Record<string, string>, rows: PlanLimitValues[]): Record<string, string> {
  const filled = rows.flatMap((row, index) => (isFilled(row) ? [index] : []));
  return Object.fromEntries(
    Object.entries(fields).map(([field, message]) => [
      field.replace(/^plan_limits\[(\d+)\]/, (whole, n: string) => (filled[Number(n)] === undefined ? whole : `plan_limits[${filled[Number(n)]}]`)),
      message,
    ]),
  );
}

const planLimitsInput = (rows: PlanLimitValues[]) =>
  filledRows(rows).map((r) => ({
    plan_name: r.plan_name,
    limit_value: orNull(r.limit_value),
    overage_price: orNull(r.overage_price),
    soft_limit_threshold: orNull(r.soft_limit_threshold),
    hard_cap: r.hard_cap,
  }));

/** The input of meters.create (and, with meter_id, of meters.preview). */
export function toCreateInput(values: MeterFormValues) {
  return {
    event_name: values.event_name.trim(),
    display_name: values.display_name,
    description: values.description,
    aggregation_type: values.aggregation_type,
    unit_name: values.unit_name,
    billing_model: values.billing_model,
    unique_property: values.aggregation_type === 'unique' ? orNull(values.unique_property) : null,
    alert_thresholds: list(values.alert_thresholds),
    rollup_dimensions: list(values.rollup_dimensions),
    plan_limits: planLimitsInput(values.plan_limits),
  };
}

/** The patch of meters.update: every editable field; plans no longer listed end now. */
export function toUpdateInput(values: MeterFormValues, currentPlans: readonly string[]) {
  const plan_limits = planLimitsInput(values.plan_limits);
  const kept = new Set(plan_limits.map((l) => l.plan_name.trim()));
  return {
    display_name: values.display_name,
    description: values.description,
    unit_name: values.unit_name,
    billing_model: values.billing_model,
    alert_thresholds: list(values.alert_thresholds),
    rollup_dimensions: list(values.rollup_dimensions),
    plan_limits,
    remove_plans: currentPlans.filter((p) => !kept.has(p)),
  };
}

type Issue = { path: ReadonlyArray<PropertyKey>; message: string };

/** Zod issues as field → message, fields written as the API writes them (`plan_limits[0].limit_value`). */
export function issueFields(issues: readonly Issue[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of issues) {
    const field = issue.path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)), '') || '(form)';
    fields[field] ??= issue.message;
  }
  return fields;
}

/** Client-side check with the API's own schema: field errors, or none. */
export function validateMeterForm(mode: 'create' | 'edit', values: MeterFormValues, currentPlans: readonly string[]): Record<string, string> {
  const result = mode === 'create' ? ZCreateMeterInput.safeParse(toCreateInput(values)) : ZUpdateMeterInput.safeParse(toUpdateInput(values, currentPlans));
  return result.success ? {} : planRowFields(issueFields(result.error.issues), values.plan_limits);
}

/** The message for a field, also catching errors on its items (`rollup_dimensions[1]`). */
const errorFor = (errors: Record<string, string>, name: string): string | undefined => errors[name] ?? Object.entries(errors).find(([field]) => field.startsWith(`${name}[`))?.[1];

function TextArea({
  label,
  name,
  defaultValue,
  error,
  hint,
  disabled,
}: {
  label: string;
  name: string;
  defaultValue: string;
  error?: string;
  hint?: ReactNode;
  disabled?: boolean;
}) {
  const id = `field-${name}`;
  const message = fieldMessage(label, error);
  return (
    <div>
      <label htmlFor={id} className="block text-tremor-default font-medium text-tremor-content-strong">
        {label}
      </label>
      <textarea
        id={id}
        name={name}
        rows={2}
        maxLength={2000}
        defaultValue={defaultValue}
        disabled={disabled}
        aria-invalid={message ? true : undefined}
        aria-describedby={message ? `${id}-error` : hint ? `${id}-hint` : undefined}
        className={`mt-1.5 ${inputClassName}`}
      />
      {message ? (
        <p id={`${id}-error`} className="mt-1.5 text-tremor-label text-red-600">
          {message}
        </p>
      ) : hint ? (
        <p id={`${id}-hint`} className="mt-1.5 text-tremor-label text-tremor-content">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

/** One cell input of the plan-limits table, labelled for screen readers, with its error under it. */
function CellInput({
  name,
  label,
  defaultValue,
  error,
  placeholder,
  disabled,
  inputMode,
  onInput,
}: {
  name: string;
  label: string;
  defaultValue: string;
  error?: string;
  placeholder?: string;
  disabled?: boolean;
  inputMode?: 'decimal';
  onInput?: (value: string) => void;
}) {
  const id = `field-${name}`;
  const message = fieldMessage(label, error);
  return (
    <div className="min-w-0">
      <label htmlFor={id} className="text-tremor-label font-medium text-tremor-content md:sr-only">
        {label}
      </label>
      <input
        id={id}
        name={name}
        type="text"
        inputMode={inputMode}
        defaultValue={defaultValue}
        placeholder={placeholder}
        disabled={disabled}
        onInput={onInput ? (event) => onInput(event.currentTarget.value) : undefined}
        aria-invalid={message ? true : undefined}
        aria-describedby={message ? `${id}-error` : undefined}
        className={`mt-1 md:mt-0 ${inputClassName}`}
      />
      {message ? (
        <p id={`${id}-error`} className="mt-1 text-tremor-label text-red-600">
          {message}
        </p>
      ) : null}
    </div>
  );
}

type Row = { key: number; values: PlanLimitValues };

/** A row's field errors (`plan_limits[i].field`, i its place when they were found), by the row's key. */
function errorsByRowKey(errors: Record<string, string>, rows: Row[]): Map<number, Record<string, string>> {
  const byKey = new Map<number, Record<string, string>>();
  for (const [field, message] of Object.entries(errors)) {
    const match = /^plan_limits\[(\d+)\]\.(\w+)$/.exec(field);
    const row = match ? rows[Number(match[1])] : undefined;
    if (!match || !row) continue;
    byKey.set(row.key, { ...byKey.get(row.key), [match[2]!]: message });
  }
  return byKey;
}

function PlanLimitsTable({ initial, errors, readOnly }: { initial: PlanLimitValues[]; errors: Record<string, string>; readOnly: boolean }) {
  const [rows, setRows] = useState<Row[]>(() => initial.map((values, key) => ({ key, values })));
  const [nextKey, setNextKey] = useState(initial.length);
  // Plan names as typed, by row key: the Remove buttons say which plan they remove.
  const [typedNames, setTypedNames] = useState<Record<number, string>>({});
  // Errors name rows by their place when they were found (the rows then are the rows now):
  // held by row key from there on, so that removing a row takes its errors with it instead of
  // handing them to the row that moves up into its place.
  const rowErrors = useRef<{ source: Record<string, string>; byKey: Map<number, Record<string, string>> } | null>(null);
  if (rowErrors.current?.source !== errors) rowErrors.current = { source: errors, byKey: errorsByRowKey(errors, rows) };
  const errorsOf = rowErrors.current.byKey;
  const tableError = errors.plan_limits ?? errors.remove_plans;
  return (
    <fieldset aria-describedby={tableError ? 'plan_limits-error' : 'plan_limits-hint'}>
      <legend className="text-tremor-title font-semibold text-tremor-content-strong">Plan limits</legend>
      <p id="plan_limits-hint" className="mt-1 text-tremor-default text-tremor-content">
        What each plan includes per billing period, in the meter’s unit. Leave the limit empty for unlimited. Soft limit is a fraction of the limit (0.8 alerts at 80 %); a hard cap
        refuses events past the limit; without one, usage past it costs the overage price per unit. Customers on a plan not listed here are unlimited. A changed limit applies from
        the next event and the old one stays in the history.
      </p>
      {tableError ? (
        <p id="plan_limits-error" className="mt-2 text-tremor-label text-red-600">
          {fieldMessage('Plan limits', tableError)}
        </p>
      ) : null}
      <div className="mt-4 hidden grid-cols-[minmax(0,1.3fr)_minmax(0,1fr)_minmax(0,0.8fr)_auto_minmax(0,1fr)_auto] gap-3 px-1 text-tremor-label font-medium text-tremor-content md:grid">
        <span>Plan name</span>
        <span>Limit</span>
        <span>Soft limit</span>
        <span>Hard cap</span>
        <span>Overage price</span>
        <span className="w-16">
          <span className="sr-only">Remove</span>
        </span>
      </div>
      <ul className="mt-2 space-y-3" data-testid="plan-limit-rows">
        {rows.map((row, index) => {
          const name = (field: string) => `plan_limits[${index}].${field}`;
          const err = (field: string) => errorsOf.get(row.key)?.[field];
          return (
            <li
              key={row.key}
              data-testid="plan-limit-row"
              className="grid grid-cols-2 items-start gap-3 rounded-tremor-default border border-tremor-border p-3 md:grid-cols-[minmax(0,1.3fr)_minmax(0,1fr)_minmax(0,0.8fr)_auto_minmax(0,1fr)_auto] md:border-0 md:p-1"
            >
              <div className="col-span-2 md:col-span-1">
                <CellInput
                  name={name('plan_name')}
                  label="Plan name"
                  defaultValue={row.values.plan_name}
                  error={err('plan_name')}
                  placeholder="pro"
                  disabled={readOnly}
                  onInput={(value) => setTypedNames((current) => ({ ...current, [row.key]: value }))}
                />
              </div>
              <CellInput
                name={name('limit_value')}
                label="Limit"
                defaultValue={row.values.limit_value}
                error={err('limit_value')}
                placeholder="Unlimited"
                inputMode="decimal"
                disabled={readOnly}
              />
              <CellInput
                name={name('soft_limit_threshold')}
                label="Soft limit"
                defaultValue={row.values.soft_limit_threshold}
                error={err('soft_limit_threshold')}
                placeholder="0.8"
                inputMode="decimal"
                disabled={readOnly}
              />
              <div className="flex items-center gap-2 md:h-9 md:justify-center">
                <input
                  id={`field-${name('hard_cap')}`}
                  name={name('hard_cap')}
                  type="checkbox"
                  defaultChecked={row.values.hard_cap}
                  disabled={readOnly}
                  className="h-4 w-4 rounded border-tremor-border text-tremor-brand focus:ring-tremor-brand-muted"
                />
                <label htmlFor={`field-${name('hard_cap')}`} className="text-tremor-label font-medium text-tremor-content md:sr-only">
                  Hard cap
                </label>
              </div>
              <CellInput
                name={name('overage_price')}
                label="Overage price"
                defaultValue={row.values.overage_price}
                error={err('overage_price')}
                placeholder="0.01"
                inputMode="decimal"
                disabled={readOnly}
              />
              <div className="col-span-2 flex justify-end md:col-span-1 md:h-9 md:items-center">
                {readOnly ? null : (
                  <Button
                    type="button"
                    variant="small"
                    className="w-16"
                    data-remove-key={row.key}
                    onClick={(event) => {
                      // The keyboard focus goes to the next row's Remove (else the previous one's, else Add a plan), not to <body>.
                      const next = rows[index + 1]?.key ?? rows[index - 1]?.key;
                      const table = event.currentTarget.closest('fieldset');
                      setRows((current) => current.filter((r) => r.key !== row.key));
                      setTimeout(() => {
                        const target = next === undefined ? table?.querySelector<HTMLElement>('[data-add-plan]') : table?.querySelector<HTMLElement>(`[data-remove-key="${next}"]`);
                        target?.focus();
                      });
                    }}
                  >
                    Remove
                    <span className="sr-only"> plan {(typedNames[row.key] ?? row.values.plan_name) || index + 1}</span>
                  </Button>
                )}
              </div>
            </li>
          );
        })}
      </ul>
      {rows.length === 0 ? <p className="mt-2 text-tremor-default text-tremor-content">No plan limits: every customer is unlimited on this meter.</p> : null}
      {readOnly ? null : (
        <Button
          type="button"
          variant="secondary"
          className="mt-3"
          data-add-plan
          onClick={() => {
            setRows((current) => [...current, { key: nextKey, values: EMPTY_PLAN_LIMIT }]);
            setNextKey((k) => k + 1);
          }}
        >
          Add a plan
        </Button>
      )}
    </fieldset>
  );
}

export function MeterForm({
  mode,
  initial,
  serverErrors,
  formMessage,
  csrf,
  readOnly = false,
  currentPlans = [],
  children,
}: {
  mode: 'create' | 'edit';
  initial: MeterFormValues;
  serverErrors: Record<string, string>;
  /** The server's sentence for the top of the form, if the last submit failed. */
  formMessage?: string | null;
  csrf: string;
  readOnly?: boolean;
  /** Edit: the plans with a current limit (a plan left out of the table ends). */
  currentPlans?: readonly string[];
  /** Shown under the buttons (the preview). */
  children?: ReactNode;
}) {
  const navigation = useNavigation();
  const pendingIntent = navigation.state === 'submitting' ? navigation.formData?.get('intent') : null;
  const [aggregation, setAggregation] = useState(initial.aggregation_type);
  // null: the browser has not judged the last submit; the server's errors apply.
  const [clientErrors, setClientErrors] = useState<Record<string, string> | null>(null);
  const errors = clientErrors ?? serverErrors;
  const hasErrors = Object.keys(errors).length > 0;
  const isDuration = aggregation === 'duration';
  // What was typed in fields that leave the form with some aggregations (a text unit, the unique
  // property): switching to another aggregation and back brings it back.
  const typed = useRef({ unit_name: initial.unit_name, unique_property: initial.unique_property });
  // A duration meter's limits are numbers in its unit: another unit changes what they mean.
  const [durationUnit, setDurationUnit] = useState(initial.unit_name);
  const limitsChangeMeaning = mode === 'edit' && isDuration && durationUnit !== initial.unit_name && initial.plan_limits.some((l) => l.limit_value !== '');
  const formRef = useRef<HTMLFormElement>(null);
  // The server's field errors take the creator to the first of them, as the browser's do.
  useEffect(() => {
    if (Object.keys(serverErrors).length > 0) formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [serverErrors]);

  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    const form = event.currentTarget;
    const found = validateMeterForm(mode, readMeterForm(new FormData(form)), currentPlans);
    if (Object.keys(found).length > 0) {
      event.preventDefault();
      setClientErrors(found);
      // After React has drawn the messages: take the creator to the first one.
      requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
    } else {
      setClientErrors(null);
    }
  };

  return (
    <Form ref={formRef} method="post" noValidate onSubmit={onSubmit} className="space-y-6" aria-label={mode === 'create' ? 'New meter' : 'Edit meter'}>
      <CsrfField token={csrf} />
      {hasErrors || formMessage ? <FormAlert>{clientErrors ? 'Please correct the highlighted fields.' : formMessage ?? 'Please correct the highlighted fields.'}</FormAlert> : null}
      <fieldset disabled={readOnly} className="space-y-6">
        <Card>
          <h2 className="text-tremor-title font-semibold text-tremor-content-strong">What you measure</h2>
          <div className="mt-4 grid gap-4 md:grid-cols-2">
            <TextField
              label="Name"
              name="display_name"
              required
              maxLength={200}
              defaultValue={initial.display_name}
              error={errors.display_name}
              placeholder="API calls"
              hint="Shown on invoices and this dashboard."
            />
            {mode === 'create' ? (
              <TextField
                label="Event name"
                name="event_name"
                required
                maxLength={100}
                defaultValue={initial.event_name}
                error={errors.event_name}
                placeholder="api_calls"
                hint={<>What your app sends as event_name: a–z, 0–9, “_”, “.”, “-”. It cannot change later.</>}
              />
            ) : (
              <div>
                <p className="text-tremor-default font-medium text-tremor-content-strong">Event name</p>
                <p className="mt-1.5 break-all py-2 font-mono text-tremor-default text-tremor-content-strong" data-testid="meter-event-name">
                  {initial.event_name}
                </p>
                <p className="text-tremor-label text-tremor-content">Fixed once events may exist.</p>
              </div>
            )}
            <div className="md:col-span-2">
              <TextArea
                label="Description"
                name="description"
                defaultValue={initial.description}
                error={errors.description}
                hint="Optional: what counts, for your team."
                disabled={readOnly}
              />
            </div>
            {mode === 'create' ? (
              <SelectField
                label="Aggregation"
                name="aggregation_type"
                value={aggregation}
                onChange={(e) => setAggregation(e.target.value)}
                error={errors.aggregation_type}
                hint={AGGREGATIONS[aggregation as AggregationType]?.description}
                options={AGGREGATION_TYPES.map((t) => ({
                  value: t,
                  label: AGGREGATIONS[t].label,
                }))}
              />
            ) : (
              <div>
                <p className="text-tremor-default font-medium text-tremor-content-strong">Aggregation</p>
                <p className="mt-1.5 py-2 text-tremor-default text-tremor-content-strong">{AGGREGATIONS[aggregation as AggregationType]?.label ?? aggregation}</p>
                <p className="text-tremor-label text-tremor-content">{AGGREGATIONS[aggregation as AggregationType]?.description} Fixed once events may exist.</p>
              </div>
            )}
            {isDuration ? (
              <SelectField
                key="unit-duration"
                label="Unit"
                name="unit_name"
                defaultValue={(DURATION_UNITS as readonly string[]).includes(initial.unit_name) ? initial.unit_name : 'seconds'}
                onChange={(e) => setDurationUnit(e.target.value)}
                error={errors.unit_name}
                hint={
                  limitsChangeMeaning
                    ? `Limits are numbers in this unit: a limit of 10 ${initial.unit_name} becomes 10 ${durationUnit}. Change the limits below too if they should stay the same time.`
                    : 'Events send seconds; totals and limits are in this unit.'
                }
                options={DURATION_UNITS.map((u) => ({ value: u, label: u }))}
              />
            ) : (
              <TextField
                key="unit-text"
                label="Unit"
                name="unit_name"
                required
                maxLength={50}
                defaultValue={typed.current.unit_name}
                onInput={(e) => (typed.current.unit_name = e.currentTarget.value)}
                error={errors.unit_name}
                placeholder="calls"
                hint="What one unit is called: calls, tokens, GB, seats."
              />
            )}
            {aggregation === 'unique' ? (
              mode === 'create' ? (
                <TextField
                  label="Unique property"
                  name="unique_property"
                  maxLength={200}
                  defaultValue={typed.current.unique_property}
                  onInput={(e) => (typed.current.unique_property = e.currentTarget.value)}
                  error={errors.unique_property}
                  placeholder="user_id"
                  hint="The event property whose distinct values count. Empty: the event’s value."
                />
              ) : (
                <div>
                  <p className="text-tremor-default font-medium text-tremor-content-strong">Unique property</p>
                  <p className="mt-1.5 py-2 font-mono text-tremor-default text-tremor-content-strong">{initial.unique_property || '(the event’s value)'}</p>
                </div>
              )
            ) : null}
            <SelectField
              label="Billing model"
              name="billing_model"
              defaultValue={initial.billing_model}
              error={errors.billing_model}
              options={BILLING_MODELS.map((m) => ({
                value: m,
                label: BILLING_MODEL_LABELS[m],
              }))}
            />
            <TextField
              label="Rollup dimensions"
              name="rollup_dimensions"
              maxLength={400}
              defaultValue={initial.rollup_dimensions}
              error={errorFor(errors, 'rollup_dimensions')}
              placeholder="endpoint, region"
              hint="Up to 3 event properties, comma-separated, that charts break usage down by."
            />
            <TextField
              label="Extra alert thresholds"
              name="alert_thresholds"
              maxLength={200}
              defaultValue={initial.alert_thresholds}
              error={errorFor(errors, 'alert_thresholds')}
              placeholder="0.5, 0.9"
              hint="Fractions of the limit, comma-separated, that also raise an alert (1 = the limit)."
            />
          </div>
        </Card>
        <Card>
          <PlanLimitsTable initial={initial.plan_limits} errors={errors} readOnly={readOnly} />
        </Card>
      </fieldset>
      {readOnly ? null : (
        <div className="flex flex-col gap-3 sm:flex-row sm:items-center">
          <Button name="intent" value="save" pending={pendingIntent === 'save'} pendingLabel="Saving…">
            {mode === 'create' ? 'Create meter' : 'Save changes'}
          </Button>
          <Button name="intent" value="preview" variant="secondary" pending={pendingIntent === 'preview'} pendingLabel="Running preview…">
            Preview on the last 30 days
          </Button>
        </div>
      )}
      {children}
    </Form>
  );
}
