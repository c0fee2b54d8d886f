import { json, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { Badge, Card } from '@tremor/react';
import type { TMeterPreview } from '../../server/schemas/meters';
import { ConfirmAction } from '~/components/confirm-action';
import { FormAlert } from '~/components/form-field';
import { MeterForm, meterFormValuesOf, planRowFields, readMeterForm, toCreateInput, toUpdateInput, type MeterFormValues } from '~/components/meter-form';
import { MeterPreviewLoading, MeterPreviewResult, PlanLimitHistory } from '~/components/meter-preview';
import { SuccessNotice, WarningNotice } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import { Timestamp } from '~/components/timestamp';
import { requireCreator } from '~/lib/caller.server';
import { requireSessionCsrf } from '~/lib/csrf.server';
import { dashboardPath, useDashboard } from '~/lib/dashboard';
import { formErrorHeaders, toFormError } from '~/lib/errors.server';
import { readFormData } from '~/lib/form.server';
import { formAlertMessage, formText, type FormFailure } from '~/lib/form';
import { pageHeaders } from '~/lib/page-headers';
import { linkClass } from '~/components/styles';

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  {
    title: data ? `${data.meter.display_name} · Meters · Staryer Usage` : 'Meter · Staryer Usage',
  },
];

export const headers = pageHeaders;

/** Another creator's meter, an archived-and-gone one, or not an id at all: the same 404, as the API answers. */
function notFoundOr(error: unknown): never {
  if ([404, 422].includes(toFormError(error).status)) throw new Response('Not found', { status: 404 });
  throw error;
}

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const id = params.id ?? '';
  const meter = await caller.meters.get({ id }).catch(notFoundOr);
  const { history } = await caller.meters.limitHistory({ id });
  return json({ meter, history }, { headers: { 'Cache-Control': 'private, no-store' } });
}

type ActionResult = {
  intent: 'save' | 'preview' | 'archive';
  ok: boolean;
  values: MeterFormValues | null;
  preview: TMeterPreview | null;
  formError: FormFailure | null;
  /** What the saved limits may not do as meant (the API's `warnings`), each with its plan's name. */
  warnings: Array<{ plan: string | null; message: string }>;
};

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const formData = await readFormData(request);
  requireSessionCsrf(request, session, formData);
  const intent = formText(formData, 'intent') || 'save';
  if (intent !== 'save' && intent !== 'preview' && intent !== 'archive') throw json({ message: 'This form does not exist.' }, { status: 400 });
  const id = params.id ?? '';
  const meter = await caller.meters.get({ id }).catch(notFoundOr);
  const values = intent === 'archive' ? null : readMeterForm(formData);
  const result: ActionResult = {
    intent,
    ok: false,
    values,
    preview: null,
    formError: null,
    warnings: [],
  };
  try {
    if (intent === 'archive') {
      await caller.meters.archive({ id });
    } else if (intent === 'preview' && values) {
      // The fixed fields come from the meter; the rest is what the form holds now.
      const input = {
        ...toCreateInput(values),
        event_name: meter.event_name,
        aggregation_type: meter.aggregation_type,
        unique_property: meter.unique_property,
        meter_id: id,
      };
      result.preview = await caller.meters.preview(input as Parameters<typeof caller.meters.preview>[0]);
    } else if (values) {
      const patch = toUpdateInput(
        values,
        meter.plan_limits.map((l) => l.plan_name)
      );
      // The meter as the page showed it: a form opened before another change must not undo it.
      const expected = formText(formData, 'expected_updated_at');
      const updated = await caller.meters.update({
        id,
        patch: patch as Parameters<typeof caller.meters.update>[0]['patch'],
        ...(expected ? { expected_updated_at: expected } : {}),
      });
      result.warnings = (updated.warnings ?? []).map((w) => {
        const index = /^plan_limits\[(\d+)\]/.exec(w.field)?.[1];
        const field = w.field.replace(/^plan_limits\[\d+\]\./, '').replaceAll('_', ' ');
        const plan = index === undefined ? null : (patch.plan_limits?.[Number(index)]?.plan_name ?? null);
        return { plan, message: `${field[0]!.toUpperCase()}${field.slice(1)} ${w.message}` };
      });
    }
    result.ok = true;
    return json(result);
  } catch (error) {
    const formError = toFormError(error);
    // The update's fields sit under `patch`; the form names them as the meter does.
    const named = Object.fromEntries(Object.entries(formError.fields).map(([field, message]) => [field.replace(/^patch\./, ''), message]));
    const fields = values ? planRowFields(named, values.plan_limits) : named;
    result.formError = {
      status: formError.status,
      message: formAlertMessage({ ...formError, fields }),
      fields,
    };
    return json(result, {
      status: formError.status,
      headers: formErrorHeaders(formError),
    });
  }
}

export default function EditMeterPage() {
  const { meter, history } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const { csrf } = useDashboard();
  const navigation = useNavigation();
  const previewing = navigation.state === 'submitting' && navigation.formData?.get('intent') === 'preview';
  const archived = meter.status === 'archived';
  const saved = meterFormValuesOf(meter);
  // After a failed save or a preview the form shows what was posted; the fixed fields are the meter's.
  const initial =
    result?.values && !(result.intent === 'save' && result.ok)
      ? { ...result.values, event_name: saved.event_name, aggregation_type: saved.aggregation_type, unique_property: saved.unique_property }
      : saved;
  return (
    <>
      <Link to={dashboardPath('meters')} className={`mb-4 inline-block text-tremor-default ${linkClass}`}>
        ← Meters
      </Link>
      <PageHeader
        title={meter.display_name}
        description={
          <>
            Meter for <span className="font-mono text-tremor-content-strong">{meter.event_name}</span> events, created <Timestamp iso={meter.created_at} />.
          </>
        }
      >
        {archived ? (
          <Badge color="gray">Archived</Badge>
        ) : (
          <ConfirmAction
            label="Archive meter"
            confirmLabel="Archive"
            pendingLabel="Archiving…"
            consequence={`Events named ${meter.event_name} will be refused as an unknown meter. Usage, limits and their history are kept; this cannot be undone.`}
            subject={meter.display_name}
            intent="archive"
            id={meter.id}
            csrf={csrf}
            width="w-64"
          />
        )}
      </PageHeader>
      <div className="space-y-6">
        {result?.ok && result.intent === 'save' ? (
          <SuccessNotice testId="meter-saved" focusIfLost={result}>Meter saved. Changed limits apply from the next event; the history below keeps the old ones.</SuccessNotice>
        ) : null}
        {result?.ok && result.intent === 'save' && result.warnings.length > 0 ? (
          <WarningNotice title="Check these limits" titleId="meter-warnings-title">
            <ul data-testid="meter-warnings" className="mt-2 list-disc space-y-1 pl-5 text-tremor-default text-amber-900">
              {result.warnings.map((w, i) => (
                <li key={i}>
                  {w.plan ? <span className="font-medium">Plan “{w.plan}”: </span> : null}
                  {w.message}
                </li>
              ))}
            </ul>
          </WarningNotice>
        ) : null}
        {result?.ok && result.intent === 'archive' ? <SuccessNotice testId="meter-archived" focusIfLost={result}>Meter archived.</SuccessNotice> : null}
        {result?.intent === 'archive' && result.formError ? <FormAlert>{result.formError.message}</FormAlert> : null}
        {archived ? (
          <div
            role="note"
            data-testid="meter-archived-note"
            className="rounded-tremor-default border border-tremor-border bg-tremor-background-muted px-4 py-3 text-tremor-default text-tremor-content-emphasis"
          >
            This meter was archived <Timestamp iso={meter.archived_at} withTime /> and is read-only: events named <span className="font-mono">{meter.event_name}</span> are refused
            as an unknown meter, and its usage and limit history stay for your records. To meter this event again, create a new meter with the same event name.
          </div>
        ) : null}
        <MeterForm
          key={meter.updated_at}
          mode="edit"
          initial={initial}
          serverErrors={result?.intent !== 'archive' ? result?.formError?.fields ?? {} : {}}
          formMessage={result?.intent !== 'archive' ? result?.formError?.message : null}
          csrf={csrf}
          readOnly={archived}
          currentPlans={meter.plan_limits.map((l) => l.plan_name)}
        >
          <input type="hidden" name="expected_updated_at" value={meter.updated_at} />
          {previewing ? <MeterPreviewLoading /> : result?.preview ? <MeterPreviewResult preview={result.preview} /> : null}
        </MeterForm>
        <Card data-testid="limit-history">
          <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Limit history</h2>
          <p className="mt-1 mb-4 text-tremor-default text-tremor-content">
            Every limit each plan has had on this meter. A past billing period is billed with the limit it had at the time.
          </p>
          <PlanLimitHistory history={history} />
        </Card>
      </div>
    </>
  );
}
