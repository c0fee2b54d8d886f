import { json, redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData } from '@remix-run/react';
import { TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import { BILLING_STATUSES, BillingStatusBadge, type BillingHealth } from '~/components/billing-status';
import { Button } from '~/components/buttons';
import { CsrfField } from '~/components/csrf-field';
import { DataTable } from '~/components/data-table';
import { FormAlert, TextField } from '~/components/form-field';
import { SuccessNotice, WarningNotice } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import { Period, Timestamp } from '~/components/timestamp';
import { requireCreator } from '~/lib/caller.server';
import { requireSessionCsrf } from '~/lib/csrf.server';
import { dashboardPath, useDashboard } from '~/lib/dashboard';
import { formErrorHeaders, toFormError } from '~/lib/errors.server';
import { readFormData } from '~/lib/form.server';
import { formAlertMessage, formText, savedFormKey, type FormFailure } from '~/lib/form';
import type { Caller } from '~/lib/load-context';
import { pageHeaders } from '~/lib/page-headers';
import { linkClass, codeClass as code } from '~/components/styles';
import { Section, usePending as usePendingOf } from '~/components/section';

export const meta: MetaFunction = () => [{ title: 'Billing · Staryer Usage' }];

export const headers = pageHeaders;

/** Where Stripe's Connect authorization sends the creator back (creator.dashboard.usage.billing_.connect.tsx). */
export const CONNECT_CALLBACK_PATH = `${dashboardPath('billing')}/connect`;

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const [stripe, { rows, customer_notes: customerNotes, licensed }, { meters }] = await Promise.all([
    caller.billing.stripeSettings(),
    caller.billing.status(),
    caller.meters.list({ include_archived: false }),
  ]);
  // The outcome of a Connect authorization, from its callback's redirect.
  const params = new URL(request.url).searchParams;
  const connect = params.has('connect_error') ? { ok: false, message: params.get('connect_error')!.slice(0, 500) } : params.has('connected') ? { ok: true, message: '' } : null;
  return json(
    {
      stripe,
      rows,
      customerNotes,
      licensed,
      connect,
      meters: meters.map((m) => ({
        id: m.id,
        event_name: m.event_name,
        display_name: m.display_name,
        billing_model: m.billing_model,
        stripe_meter_event_name: m.stripe_meter_event_name,
        stripe_meter_id: m.stripe_meter_id,
      })),
    },
    { headers: { 'Cache-Control': 'private, no-store' } },
  );
}

const INTENTS = ['stripe-settings', 'stripe-connect', 'report', 'reconcile', 'link-meter'] as const;
type Intent = (typeof INTENTS)[number];
const isIntent = (value: string): value is Intent => (INTENTS as readonly string[]).includes(value);

/** What the settings form posted, kept so a refused form shows it again (never the key). */
type Values = { report_interval_minutes: string };

type ActionResult = {
  intent: Intent;
  /** When it was answered: tells two saves of the same form apart (each resets the form). */
  at: number;
  ok: boolean;
  formError: FormFailure | null;
  values: Values;
  report: Awaited<ReturnType<Caller['billing']['sync']>> | null;
  reconcile: Awaited<ReturnType<Caller['billing']['reconcile']>> | null;
  /** The meter linked by link-meter, and its Stripe meter. */
  linked: { id: string; stripe_meter_event_name: string | null; stripe_meter_id: string | null } | null;
  /** What the saved key could not be checked for (the API's `warnings`). */
  warnings: Array<{ field: string; message: string }>;
};

export async function action({ request, context }: ActionFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const formData = await readFormData(request);
  requireSessionCsrf(request, session, formData);
  const intent = formText(formData, 'intent');
  if (!isIntent(intent)) throw json({ message: 'This form does not exist.' }, { status: 400 });

  const values: Values = { report_interval_minutes: formText(formData, 'report_interval_minutes').trim() };
  const result: ActionResult = { intent, at: Date.now(), ok: false, formError: null, values, report: null, reconcile: null, linked: null, warnings: [] };
  try {
    switch (intent) {
      case 'stripe-settings': {
        const secretKey = formText(formData, 'secret_key').trim();
        const saved = await caller.billing.updateStripeSettings({
          ...(secretKey ? { secret_key: secretKey } : {}),
          // Empty is not "unchanged": the server's message says what a valid value is.
          report_interval_minutes: values.report_interval_minutes === '' ? Number.NaN : Number(values.report_interval_minutes),
        });
        result.warnings = saved.warnings ?? [];
        break;
      }
      case 'stripe-connect': {
        // To Stripe's page, where the account's owner approves this platform; back at the callback.
        const callback = new URL(CONNECT_CALLBACK_PATH, request.url);
        // Behind a TLS-terminating proxy the request reaches us over http: Stripe must send the browser back over https.
        if (context.secureCookies) callback.protocol = 'https:';
        const started = await caller.billing.startConnect({ redirect_uri: callback.toString() });
        return redirect(started.authorize_url, { headers: { 'Cache-Control': 'no-store' } });
      }
      case 'report':
        result.report = await caller.billing.sync();
        break;
      case 'reconcile':
        result.reconcile = await caller.billing.reconcile();
        break;
      case 'link-meter': {
        const meter = await caller.billing.linkMeter({ id: formText(formData, 'id') });
        result.linked = { id: meter.id, stripe_meter_event_name: meter.stripe_meter_event_name, stripe_meter_id: meter.stripe_meter_id };
        break;
      }
    }
    result.ok = true;
    return json(result, { headers: { 'Cache-Control': 'no-store' } });
  } catch (error) {
    const formError = toFormError(error);
    result.formError = { status: formError.status, message: formAlertMessage(formError), fields: formError.fields };
    return json(result, { status: formError.status, headers: { 'Cache-Control': 'no-store', ...formErrorHeaders(formError) } });
  }
}

type LoaderData = ReturnType<typeof useLoaderData<typeof loader>>;
type Result = ReturnType<typeof useActionData<typeof action>>;
type Row = LoaderData['rows'][number];
type LicensedRow = LoaderData['licensed'][number];

const LICENSED_STATUS_LABELS: Record<LicensedRow['status'], string> = {
  in_sync: 'In sync',
  behind: 'Behind',
  pending: 'Pending',
  failed: 'Failed',
  no_subscription_item: 'No subscription item',
};

/**
 * Licensed meters: per customer, the quantity of its Stripe subscription item that each
 * report sets — the current period's usage rounded up — next to the quantity Stripe answered
 * with when last set; what to do when they differ, or when the customer has no item.
 */
/** Customers of one meter without a subscription item listed one by one up to this; past it, one row says it for all. */
const NO_ITEM_ROWS = 5;
/** Rows shown at most (the status API lists them all). */
const LICENSED_ROWS = 100;

function LicensedTable({ rows: all }: { rows: LicensedRow[] }) {
  // Without an item, every row said the same long instruction: 142 customers made a page
  // 26,000 px tall. Past a few per meter they are one row, with the instruction once.
  const noItem = new Map<string, LicensedRow[]>();
  for (const row of all) if (row.status === 'no_subscription_item') noItem.set(row.event_name, [...(noItem.get(row.event_name) ?? []), row]);
  const grouped = [...noItem].filter(([, list]) => list.length > NO_ITEM_ROWS);
  const folded = new Set(grouped.map(([eventName]) => eventName));
  const listed = all.filter((row) => !(row.status === 'no_subscription_item' && folded.has(row.event_name)));
  const rows = listed.slice(0, LICENSED_ROWS);
  return (
    <div className="-mx-6 overflow-x-auto">
      <DataTable aria-label="Licensed meters: subscription item quantities per customer">
        <TableHead>
          <TableRow>
            <TableHeaderCell className="pl-6">Customer</TableHeaderCell>
            <TableHeaderCell>Meter</TableHeaderCell>
            <TableHeaderCell>Subscription item</TableHeaderCell>
            <TableHeaderCell className="text-right">Our quantity</TableHeaderCell>
            <TableHeaderCell className="text-right">Set in Stripe</TableHeaderCell>
            <TableHeaderCell className="pr-6">Status</TableHeaderCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {rows.map((row) => (
            <TableRow key={`${row.meter_id}|${row.user_id}`} data-testid="licensed-row" className="align-top">
              <TableCell className="pl-6 font-medium text-tremor-content-strong">{row.user_id}</TableCell>
              <TableCell className="font-mono text-[13px]">{row.event_name}</TableCell>
              <TableCell className="font-mono text-[13px]">{row.subscription_item_id ?? <span className="font-sans text-tremor-content-subtle">None</span>}</TableCell>
              <TableCell className="text-right tabular-nums">
                {row.quantity === null ? (
                  <span className="text-tremor-content-subtle">No usage this period yet</span>
                ) : (
                  <>
                    <span className="block">{row.quantity}</span>
                    {row.usage !== String(row.quantity) ? <span className="text-tremor-label text-tremor-content">{row.usage} used, rounded up</span> : null}
                  </>
                )}
              </TableCell>
              <TableCell className="text-right tabular-nums">
                {row.stripe_quantity === null ? (
                  <span className="text-tremor-content-subtle">Not set yet</span>
                ) : (
                  <>
                    <span className="block">{row.stripe_quantity}</span>
                    {row.last_set_at ? (
                      <span className="text-tremor-label text-tremor-content">
                        <Timestamp iso={row.last_set_at} withTime />
                      </span>
                    ) : null}
                  </>
                )}
              </TableCell>
              <TableCell className="max-w-xs whitespace-normal pr-6">
                <span className="font-medium text-tremor-content-strong" data-testid="licensed-status">
                  {LICENSED_STATUS_LABELS[row.status]}
                </span>
                {row.last_error ? <p className="mt-1 break-words text-tremor-label text-tremor-content">Stripe: {row.last_error}</p> : null}
                {row.next_step ? <p className="mt-1 break-words text-tremor-label text-tremor-content">{row.next_step}</p> : null}
                {row.attempts > 1 ? <p className="mt-1 text-tremor-label text-tremor-content">{row.attempts} attempts</p> : null}
              </TableCell>
            </TableRow>
          ))}
          {grouped.map(([eventName, list]) => (
            <TableRow key={`no-item|${eventName}`} data-testid="licensed-no-item-summary">
              <TableCell colSpan={6} className="whitespace-normal px-6">
                <span className="font-medium text-tremor-content-strong">
                  {list.length} customers have usage of <code className="font-mono text-[13px]">{eventName}</code> and no subscription item for it
                </span>
                <p className="mt-1 break-words text-tremor-label text-tremor-content">
                  {list
                    .slice(0, 10)
                    .map((r) => r.user_id)
                    .join(', ')}
                  {list.length > 10 ? ` and ${list.length - 10} more` : ''}.
                </p>
                <p className="mt-1 break-words text-tremor-label text-tremor-content">
                  Give each one <code className="font-mono">stripe_subscription_items.{eventName}</code>: the id (si_…) of the item of its Stripe subscription whose licensed
                  price bills this meter (PUT /api/usage/customers/{'{user_id}'}), then Report now. Until then their usage of this meter is not billed.
                </p>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </DataTable>
      {listed.length > rows.length ? (
        <p className="px-6 pt-3 text-tremor-label text-tremor-content" data-testid="licensed-more">
          {listed.length - rows.length} more customers are not shown: GET /api/usage/billing/status lists every one under licensed.
        </p>
      ) : null}
    </div>
  );
}

function ConnectionSummary({ stripe }: { stripe: LoaderData['stripe'] }) {
  const connection =
    stripe.configured === 'connect' ? (
      <>
        Connect account <code className="font-mono">{stripe.connect_account_id}</code>, reached with this server’s platform key
      </>
    ) : stripe.configured === 'secret_key' ? (
      'Your secret key is set (stored encrypted; it is never shown again)'
    ) : (
      'Not connected: no key or Connect account yet'
    );
  return (
    <dl className="grid gap-4 text-tremor-default sm:grid-cols-3" data-testid="stripe-connection">
      <div>
        <dt className="text-tremor-label text-tremor-content">Connection</dt>
        <dd className={`mt-1 ${stripe.configured ? 'text-tremor-content-strong' : 'text-amber-700'}`} data-testid="stripe-configured">
          {connection}
        </dd>
      </div>
      <div>
        <dt className="text-tremor-label text-tremor-content">Reports</dt>
        <dd className="mt-1 text-tremor-content-strong" data-testid="stripe-interval">
          Every {stripe.report_interval_minutes} {stripe.report_interval_minutes === 1 ? 'minute' : 'minutes'}
        </dd>
        <dd className="mt-1 text-tremor-label text-tremor-content" data-testid="stripe-invoice-grace">
          Invoices finalize {stripe.invoice_grace_hours} h after a period ends (as set in Stripe)
        </dd>
      </div>
      <div>
        <dt className="text-tremor-label text-tremor-content">Last report</dt>
        <dd className="mt-1 text-tremor-content-strong">{stripe.last_report_at ? <Timestamp iso={stripe.last_report_at} withTime /> : 'Never'}</dd>
      </div>
    </dl>
  );
}

function StripeSettingsForm({ stripe, csrf, result }: { stripe: LoaderData['stripe']; csrf: string; result: Result }) {
  const isPending = usePendingOf<Intent>();
  const own = result?.intent === 'stripe-settings' ? result : null;
  const failed = own?.formError ? own : null;
  const fields = failed?.formError?.fields ?? {};
  return (
    <Form method="post" noValidate preventScrollReset className="space-y-5" aria-label="Stripe settings" key={savedFormKey(result, 'stripe-settings', stripe)}>
      <CsrfField token={csrf} />
      <input type="hidden" name="intent" value="stripe-settings" />
      {failed?.formError ? <FormAlert>{failed.formError.message}</FormAlert> : own?.ok ? <SuccessNotice focusIfLost={own}>Stripe settings saved.</SuccessNotice> : null}
      {own?.ok && own.warnings.length > 0 ? (
        <p role="status" data-testid="stripe-key-warning" className="rounded-tremor-default border border-amber-200 bg-amber-50 px-4 py-3 text-tremor-default text-amber-800">
          {own.warnings.map((w) => `The key ${w.message}`).join(' ')}
        </p>
      ) : null}
      <div className="grid gap-5 md:grid-cols-2">
        <TextField
          label="Secret or restricted key"
          name="secret_key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          maxLength={255}
          placeholder={stripe.configured === 'secret_key' ? 'Set — type a new key to replace it' : 'sk_live_… or rk_live_…'}
          error={fields.secret_key}
          hint="Write-only: stored encrypted and never shown again. Leave empty to keep the current one. A key replaces a Connect account."
        />
        <TextField
          label="Report interval (minutes)"
          name="report_interval_minutes"
          type="number"
          inputMode="numeric"
          min={1}
          max={1440}
          step={1}
          required
          defaultValue={failed ? failed.values.report_interval_minutes : String(stripe.report_interval_minutes)}
          error={fields.report_interval_minutes}
          hint="How often usage is reported to Stripe (1–1440; default 5). Each period is also reported when it ends."
        />
      </div>
      <Button pending={isPending('stripe-settings')} pendingLabel="Saving…">
        Save Stripe settings
      </Button>
    </Form>
  );
}

/** Or a Connect account: approved by its owner on Stripe's page (OAuth), never typed in. */
function ConnectForm({ stripe, csrf, result, outcome }: { stripe: LoaderData['stripe']; csrf: string; result: Result; outcome: LoaderData['connect'] }) {
  const isPending = usePendingOf<Intent>();
  const failed = result?.intent === 'stripe-connect' ? result.formError : null;
  return (
    <Form method="post" noValidate preventScrollReset className="space-y-3" aria-label="Connect a Stripe account">
      <CsrfField token={csrf} />
      <input type="hidden" name="intent" value="stripe-connect" />
      {failed ? <FormAlert>{failed.message}</FormAlert> : null}
      {outcome && !outcome.ok ? <FormAlert>{`The Stripe account was not connected: ${outcome.message}`}</FormAlert> : null}
      {outcome?.ok && stripe.configured === 'connect' ? <SuccessNotice focusIfLost={outcome}>{`Stripe account ${stripe.connect_account_id} connected.`}</SuccessNotice> : null}
      <p className="max-w-3xl text-tremor-default text-tremor-content">
        Or connect a Stripe account through this server’s platform (Stripe Connect): Stripe asks the account’s owner to approve it, then sends you back here. A connected
        account replaces a stored key.
      </p>
      <Button variant="secondary" pending={isPending('stripe-connect')} pendingLabel="Opening Stripe…">
        {stripe.configured === 'connect' ? 'Connect another Stripe account' : 'Connect with Stripe'}
      </Button>
    </Form>
  );
}

function RunOutcome({ result }: { result: Result }) {
  if (!result || (result.intent !== 'report' && result.intent !== 'reconcile')) return null;
  if (result.formError) return <FormAlert>{result.formError.message}</FormAlert>;
  if (result.report) {
    const r = result.report;
    const text =
      r.pairs === 0
        ? 'Nothing to report: no meter and customer are linked to Stripe, or they have no usage this period.'
        : `Report finished for ${r.pairs} customer × meter × period: ${r.reported} reported, ${r.up_to_date} already up to date, ${r.pending} pending, ${r.failed} failed, ${r.unknown} unknown.`;
    return <SuccessNotice testId="run-outcome" focusIfLost={result}>{text}</SuccessNotice>;
  }
  if (result.reconcile) {
    const r = result.reconcile;
    // Drift is corrected, reported as Stripe holding more, or left (too recent to judge, a
    // report still open…): each row below says which and what to do.
    const left = r.drifting - r.compensated - r.over_reported;
    const drift = [
      r.compensated > 0 ? `${r.compensated} corrected with a compensating event` : null,
      r.over_reported > 0 ? `${r.over_reported} where Stripe has more than we reported (to fix in Stripe)` : null,
      left > 0 ? `${left} not corrected now (see each row below)` : null,
    ].filter(Boolean);
    const text =
      r.pairs === 0
        ? 'Nothing to reconcile: nothing has been reported to Stripe in the last 35 days.'
        : `Reconciliation finished for ${r.pairs} customer × meter × period: ${r.in_sync} in sync, ${r.drifting} drifting${drift.length > 0 ? ` (${drift.join(', ')})` : ''}, ${r.resolved} unknown reports settled, ${r.errors} could not be checked.`;
    return <SuccessNotice testId="run-outcome" focusIfLost={result}>{text}</SuccessNotice>;
  }
  return null;
}

const RUNS = [
  { intent: 'report', label: 'Report now', runningLabel: 'Reporting…' },
  { intent: 'reconcile', label: 'Reconcile now', runningLabel: 'Reconciling…' },
] as const;

function RunButtons({ csrf, configured }: { csrf: string; configured: boolean }) {
  const isPending = usePendingOf<Intent>();
  // One run at a time: both buttons hold while either runs; the running one says so.
  const running = isPending('report') || isPending('reconcile');
  return (
    <Form method="post" preventScrollReset className="flex flex-wrap items-center gap-3" aria-label="Run now">
      <CsrfField token={csrf} />
      {/* Without a key or account there is nothing to run: held, as Create in Stripe is (it answered a 409 pointing at the API). */}
      {RUNS.map(({ intent, label, runningLabel }) => (
        <Button
          key={intent}
          name="intent"
          value={intent}
          variant="secondary"
          disabled={!configured}
          aria-describedby={configured ? undefined : 'run-needs-stripe'}
          pending={running}
          pendingLabel={isPending(intent) ? runningLabel : undefined}
        >
          {label}
        </Button>
      ))}
      {configured ? null : (
        <p id="run-needs-stripe" className="text-tremor-label text-tremor-content">
          Save a Stripe key or connect an account above first.
        </p>
      )}
    </Form>
  );
}

const HEALTH: Record<BillingHealth, { label: string; className: string }> = {
  in_sync: { label: 'In sync', className: 'text-emerald-700' },
  drifting: { label: 'Drifting', className: 'text-amber-700' },
  failing: { label: 'Failing', className: 'text-red-700' },
};

/** What happened to a row that is not in sync, in a sentence (what to do is the row's next_step). */
function reasonOf(row: Row): string | null {
  switch (row.status) {
    case 'in_sync':
      return null;
    case 'behind':
      return `${row.quantity} counted, ${row.reported_quantity} reported.`;
    case 'drifting':
      // Both figures as of the reconciliation: what was reported since is not in Stripe's total it read.
      return `At the last reconciliation Stripe had ${row.stripe_quantity ?? '?'} where we had reported ${row.reconciled_reported_quantity ?? '?'} (drift ${row.drift ?? '?'}).`;
    default:
      return BILLING_STATUSES[row.status].description;
  }
}

/** Why a row is not in sync, what Stripe said, and what to do. */
function RowExplanation({ row }: { row: Row }) {
  const reason = reasonOf(row);
  if (reason === null) return null;
  // The over-reported reason is a next step of its own, already given.
  const said = row.last_error && row.status !== 'behind' && !row.last_error.startsWith('over_reported:') ? row.last_error : null;
  return (
    <>
      {reason}
      {said ? (
        <span className="block break-words text-tremor-content-subtle" data-testid="billing-stripe-said">
          {row.status === 'failed' && !said.startsWith('not settled:') ? `Stripe said: ${said}` : said}
        </span>
      ) : null}
      {row.next_step ? (
        <span className="block font-medium text-tremor-content-strong" data-testid="billing-next-step">
          {row.next_step}
        </span>
      ) : null}
    </>
  );
}

function HealthSummary({ rows }: { rows: Row[] }) {
  const counts: Record<BillingHealth, number> = { in_sync: 0, drifting: 0, failing: 0 };
  for (const row of rows) counts[BILLING_STATUSES[row.status].health]++;
  const reasons = rows
    .map((row) => ({ row, reason: reasonOf(row) }))
    .filter((r) => r.reason !== null && BILLING_STATUSES[r.row.status].health !== 'in_sync');
  return (
    <div className="space-y-4">
      <dl className="grid gap-4 sm:grid-cols-3" data-testid="billing-summary">
        {(Object.keys(HEALTH) as BillingHealth[]).map((health) => (
          <div key={health} className="rounded-tremor-default border border-tremor-border p-4">
            <dt className="text-tremor-label text-tremor-content">{HEALTH[health].label}</dt>
            <dd className={`mt-1 text-2xl font-semibold tabular-nums ${counts[health] > 0 ? HEALTH[health].className : 'text-tremor-content-strong'}`} data-testid={`billing-${health}`}>
              {counts[health]}
            </dd>
          </div>
        ))}
      </dl>
      {reasons.length > 0 ? (
        <div>
          <h3 className="text-tremor-default font-semibold text-tremor-content-strong">Why</h3>
          <ul className="mt-2 space-y-1 text-tremor-default text-tremor-content">
            {reasons.map(({ row }) => (
              <li key={`${row.meter_id}|${row.user_id}|${row.period_start}`} data-testid="billing-reason">
                <span className="font-medium text-tremor-content-strong">{row.user_id}</span> on <code className="font-mono text-[13px]">{row.event_name}</code>:{' '}
                <RowExplanation row={row} />
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

function HealthTable({ rows }: { rows: Row[] }) {
  return (
    <div className="-mx-6 overflow-x-auto">
      <DataTable aria-label="Billing health per customer, meter and period">
        <TableHead>
          <TableRow>
            <TableHeaderCell className="pl-6">Customer</TableHeaderCell>
            <TableHeaderCell>Meter</TableHeaderCell>
            <TableHeaderCell>Period</TableHeaderCell>
            <TableHeaderCell className="text-right">Ours</TableHeaderCell>
            <TableHeaderCell className="text-right">Reported</TableHeaderCell>
            <TableHeaderCell className="text-right">Stripe’s (last reconciliation)</TableHeaderCell>
            <TableHeaderCell className="pr-6">Status</TableHeaderCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {rows.map((row) => (
            <TableRow key={`${row.meter_id}|${row.user_id}|${row.period_start}`} data-testid="billing-row" className="align-top">
              <TableCell className="pl-6 font-medium text-tremor-content-strong">{row.user_id}</TableCell>
              <TableCell className="font-mono text-[13px]">{row.event_name}</TableCell>
              <TableCell>
                <Period start={row.period_start} end={row.period_end} />
              </TableCell>
              <TableCell className="text-right tabular-nums">{row.quantity}</TableCell>
              <TableCell className="text-right tabular-nums">
                <span className="block">{row.reported_quantity}</span>
                {row.last_reported_at ? (
                  <span className="text-tremor-label text-tremor-content">
                    <Timestamp iso={row.last_reported_at} withTime />
                  </span>
                ) : null}
              </TableCell>
              <TableCell className="text-right tabular-nums">
                {row.stripe_quantity === null ? (
                  <span className="text-tremor-content-subtle">Not reconciled yet</span>
                ) : (
                  <>
                    <span className="block">{row.stripe_quantity}</span>
                    <span className="text-tremor-label text-tremor-content">
                      <Timestamp iso={row.reconciled_at} withTime />
                    </span>
                  </>
                )}
              </TableCell>
              <TableCell className="max-w-xs whitespace-normal pr-6">
                <BillingStatusBadge status={row.status} />
                {row.status !== 'in_sync' ? (
                  <p className="mt-1 break-words text-tremor-label text-tremor-content">
                    <RowExplanation row={row} />
                  </p>
                ) : null}
                {row.attempts > 1 ? <p className="mt-1 text-tremor-label text-tremor-content">{row.attempts} attempts</p> : null}
                {row.after_invoice_quantity !== '0' ? (
                  <p className="mt-1 break-words text-tremor-label text-amber-700" data-testid="after-invoice">
                    {row.after_invoice_quantity} reported after Stripe finalized this period’s invoice: in Stripe’s meter, not on the invoice. Bill it by hand, or
                    lengthen the invoice grace in Stripe.
                  </p>
                ) : null}
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </DataTable>
    </div>
  );
}

function EmptyState() {
  return (
    <div data-testid="billing-empty" className="text-tremor-default text-tremor-content">
      <p className="font-medium text-tremor-content-strong">Nothing has been reported to Stripe yet.</p>
      <p className="mt-2">Usage is reported for customers and meters linked to Stripe, once Stripe is connected above:</p>
      <ol className="mt-2 list-decimal space-y-1 pl-5">
        <li>
          Link a meter to a Stripe Billing Meter: <code className={code}>PATCH /api/usage/meters/{'{id}'}</code> with{' '}
          <code className={code}>stripe_meter_event_name</code> (the meter’s <code className={code}>event_name</code> in Stripe). See{' '}
          <Link to={dashboardPath('meters')} className={linkClass}>
            Meters
          </Link>
          .
        </li>
        <li>
          Link a customer to their Stripe customer: <code className={code}>PUT /api/usage/customers/{'{user_id}'}</code> with{' '}
          <code className={code}>stripe_customer_id</code> (<code className={code}>cus_…</code>) and <code className={code}>stripe_subscription_items</code> (event name →{' '}
          <code className={code}>si_…</code>). See{' '}
          <Link to={dashboardPath('customers')} className={linkClass}>
            Customers
          </Link>
          .
        </li>
      </ol>
      <p className="mt-2">Each report then appears here with our quantity, what Stripe accepted, and Stripe’s own total at the last reconciliation.</p>
    </div>
  );
}

/**
 * Each meter's Stripe Billing Meter, or a button that finds or creates it (formula sum) and
 * links it. A meter linked by name only (PATCH stripe_meter_event_name) was not looked up in
 * Stripe, which refuses reports until a meter of that name exists: the same button finds or
 * creates it.
 */
function StripeMeters({ meters, csrf, configured, result }: { meters: LoaderData['meters']; csrf: string; configured: boolean; result: Result }) {
  const isPending = usePendingOf<Intent>();
  const own = result?.intent === 'link-meter' ? result : null;
  const failed = own && !own.ok ? own.formError : null;
  const linked = own?.ok ? own.linked : null;
  const linkedMeter = linked ? meters.find((m) => m.id === linked.id) : undefined;
  if (meters.length === 0) {
    return <p className="text-tremor-default text-tremor-content">No meters yet. Create one, then link it to a Stripe Billing Meter here.</p>;
  }
  return (
    <div className="space-y-3">
      {failed ? <FormAlert>{failed.message}</FormAlert> : null}
      {linked ? (
        <SuccessNotice testId="stripe-meter-linked" focusIfLost={own}>
          {`${linkedMeter?.display_name ?? 'The meter'} now reports to Stripe meter ${linked.stripe_meter_event_name ?? ''}${linked.stripe_meter_id ? ` (${linked.stripe_meter_id})` : ''}.`}
        </SuccessNotice>
      ) : null}
      <ul className="divide-y divide-tremor-border" aria-label="Meters in Stripe">
        {meters.map((meter) => {
          const button = (label: string) => (
            <Form method="post" preventScrollReset>
              <CsrfField token={csrf} />
              <input type="hidden" name="id" value={meter.id} />
              <Button name="intent" value="link-meter" variant="secondary" disabled={!configured} pending={isPending('link-meter', meter.id)} pendingLabel="Creating…">
                {label}
                <span className="sr-only"> for {meter.display_name}</span>
              </Button>
            </Form>
          );
          return (
            <li key={meter.id} className="flex items-center justify-between gap-4 py-2" data-testid="stripe-meter-row">
              <span className="text-tremor-default text-tremor-content-strong">
                {meter.display_name} <code className={code}>{meter.event_name}</code>
              </span>
              {meter.billing_model === 'licensed' && meter.stripe_meter_event_name === null ? (
                <span className="max-w-md text-right text-tremor-label text-tremor-content" data-testid="stripe-meter-licensed">
                  Licensed: billed by each customer’s subscription item quantity (<code className={code}>stripe_subscription_items.{meter.event_name}</code>), not a
                  Stripe meter. See Licensed meters below.
                </span>
              ) : meter.stripe_meter_event_name === null ? (
                button('Create in Stripe')
              ) : meter.stripe_meter_id ? (
                <span className="text-tremor-label text-tremor-content">
                  Reported to Stripe meter <code className={code}>{meter.stripe_meter_event_name}</code> <span className="font-mono">{meter.stripe_meter_id}</span>
                </span>
              ) : (
                <span className="flex flex-wrap items-center justify-end gap-3">
                  <span className="max-w-md text-right text-tremor-label text-tremor-content" data-testid="stripe-meter-by-name">
                    Reported to Stripe meter <code className={code}>{meter.stripe_meter_event_name}</code>, linked by name: not looked up in Stripe, which refuses reports
                    until a meter of this event name exists.
                  </span>
                  {button('Find or create in Stripe')}
                </span>
              )}
            </li>
          );
        })}
      </ul>
      {!configured ? <p className="text-tremor-label text-tremor-content">Connect Stripe above first.</p> : null}
    </div>
  );
}

export default function BillingPage() {
  const { stripe, rows, customerNotes, licensed, meters, connect } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const { csrf } = useDashboard();
  return (
    <>
      <PageHeader title="Billing" description="What is reported to Stripe, and whether Stripe agrees." />
      <div className="space-y-8">
        {customerNotes.length > 0 ? (
          <WarningNotice titleId="customer-notes-title" title={`${customerNotes.length === 1 ? 'A customer needs' : `${customerNotes.length} customers need`} your attention`}>
            <ul className="mt-1 list-disc space-y-1 pl-5" data-testid="customer-notes">
              {customerNotes.map((note) => (
                <li key={`${note.user_id}|${note.code}`}>
                  <code>{note.user_id}</code>: {note.detail}
                </li>
              ))}
            </ul>
          </WarningNotice>
        ) : null}
        <Section id="stripe" title="Stripe connection" description="The Stripe account usage is reported to, and how often.">
          <div className="space-y-6">
            <ConnectionSummary stripe={stripe} />
            <div className="border-t border-tremor-border pt-6">
              <StripeSettingsForm stripe={stripe} csrf={csrf} result={result} />
            </div>
            <div className="border-t border-tremor-border pt-6">
              <ConnectForm stripe={stripe} csrf={csrf} result={result} outcome={connect} />
            </div>
          </div>
        </Section>
        <Section id="meters" title="Meters in Stripe" description="Each meter reports to a Stripe Billing Meter with the same event name. Create it in your Stripe account from here, or link an existing one with PATCH /api/usage/meters/{id}.">
          <StripeMeters meters={meters} csrf={csrf} configured={stripe.configured !== null} result={result} />
        </Section>
        <Section
          id="health"
          title="Billing health"
          description="Per customer, meter and billing period: our quantity, what Stripe accepted from us, and Stripe’s own total at the last reconciliation (nightly, or now)."
        >
          <div className="space-y-6">
            <RunOutcome result={result} />
            <RunButtons csrf={csrf} configured={stripe.configured !== null} />
            {rows.length === 0 ? (
              <EmptyState />
            ) : (
              <>
                <HealthSummary rows={rows} />
                <HealthTable rows={rows} />
              </>
            )}
          </div>
        </Section>
        {licensed.length > 0 ? (
          <Section
            id="licensed"
            title="Licensed meters"
            description="Licensed meters are billed by the quantity of each customer’s Stripe subscription item, not meter events. Each report sets it to the customer’s usage in its current period, rounded up to a whole number, when it changed; a new period keeps the last quantity until its first event."
          >
            <LicensedTable rows={licensed} />
          </Section>
        ) : null}
      </div>
    </>
  );
}
