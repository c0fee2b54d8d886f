import { json, redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Link, useActionData, useNavigation } from '@remix-run/react';
import type { TMeterPreview } from '../../server/schemas/meters';
import { EMPTY_METER_FORM, MeterForm, planRowFields, readMeterForm, toCreateInput, type MeterFormValues } from '~/components/meter-form';
import { MeterPreviewLoading, MeterPreviewResult } from '~/components/meter-preview';
import { PageHeader } from '~/components/page-header';
import { requireCreator } from '~/lib/caller.server';
import { requireSessionCsrf } from '~/lib/csrf.server';
import { dashboardPath, useDashboard } from '~/lib/dashboard';
import { formErrorHeaders, toFormError } from '~/lib/errors.server';
import { readFormData } from '~/lib/form.server';
import { formAlertMessage, formText, type FormFailure } from '~/lib/form';
import { pageHeaders } from '~/lib/page-headers';
import { linkClass } from '~/components/styles';

export const meta: MetaFunction = () => [{ title: 'New meter · Staryer Usage' }];

export const headers = pageHeaders;

export async function loader({ request, context }: LoaderFunctionArgs) {
  await requireCreator(request, context);
  return json(null, { headers: { 'Cache-Control': 'private, no-store' } });
}

type ActionResult = {
  intent: 'save' | 'preview';
  values: MeterFormValues;
  preview: TMeterPreview | null;
  formError: FormFailure | null;
};

export async function action({ request, context }: ActionFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const formData = await readFormData(request);
  requireSessionCsrf(request, session, formData);
  const intent = formText(formData, 'intent') || 'save';
  if (intent !== 'save' && intent !== 'preview') throw json({ message: 'This form does not exist.' }, { status: 400 });
  const values = readMeterForm(formData);
  // The procedures validate with the same schemas the browser used; the cast only names that input.
  const input = toCreateInput(values) as Parameters<typeof caller.meters.create>[0];
  const result: ActionResult = {
    intent,
    values,
    preview: null,
    formError: null,
  };
  try {
    if (intent === 'preview') {
      result.preview = await caller.meters.preview(input);
      return json(result);
    }
    const meter = await caller.meters.create(input);
    return redirect(`${dashboardPath('meters')}?created=${meter.id}`);
  } catch (error) {
    const formError = toFormError(error);
    const fields = planRowFields(formError.fields, values.plan_limits);
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

export default function NewMeterPage() {
  const result = useActionData<typeof action>();
  const { csrf } = useDashboard();
  const navigation = useNavigation();
  const previewing = navigation.state === 'submitting' && navigation.formData?.get('intent') === 'preview';
  return (
    <>
      <Link to={dashboardPath('meters')} className={`mb-4 inline-block text-tremor-default ${linkClass}`}>
        ← Meters
      </Link>
      <PageHeader title="New meter" description="What your app reports, how a billing period adds it up, and what each plan may use." />
      <MeterForm mode="create" initial={result?.values ?? EMPTY_METER_FORM} serverErrors={result?.formError?.fields ?? {}} formMessage={result?.formError?.message} csrf={csrf}>
        {previewing ? <MeterPreviewLoading /> : result?.preview ? <MeterPreviewResult preview={result.preview} /> : null}
      </MeterForm>
    </>
  );
}
