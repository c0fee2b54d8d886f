import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { AuthLayout } from '~/components/auth-layout';
import { FormAlert, SubmitButton, TextField } from '~/components/form-field';
import { authFormFailure, loadAnonymousForm, startSession } from '~/lib/auth-forms.server';
import { getCaller } from '~/lib/caller.server';
import { requireAnonymousCsrf } from '~/lib/csrf.server';
import { readFormData } from '~/lib/form.server';
import { formText } from '~/lib/form';
import { pageHeaders } from '~/lib/page-headers';

export const meta: MetaFunction = () => [{ title: 'Create your account · Staryer Usage' }];

export const headers = pageHeaders;

export const loader = ({ request, context }: LoaderFunctionArgs) => loadAnonymousForm(request, context);

export async function action({ request, context }: ActionFunctionArgs) {
  const formData = await readFormData(request);
  requireAnonymousCsrf(request, formData);
  const values = { email: formText(formData, 'email'), name: formText(formData, 'name') };
  const { caller, session } = await getCaller(request, context);
  try {
    const grant = await caller.auth.signup({ ...values, password: formText(formData, 'password') });
    // The session this browser's cookie held (a form sent over it) ends: the cookie gets the new one.
    if (session) await caller.auth.logout();
    return startSession(grant, formData.get('next'), context);
  } catch (error) {
    return authFormFailure(error, values);
  }
}

export default function SignupPage() {
  const { csrf, next } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const submitting = useNavigation().state === 'submitting';
  const fields = result?.formError.fields ?? {};
  return (
    <AuthLayout
      title="Create your account"
      subtitle="Track usage, enforce plan limits and bill overages."
      footer={
        <>
          Already have an account?{' '}
          <Link to={next ? `/login?next=${encodeURIComponent(next)}` : '/login'} className="font-medium text-tremor-brand hover:text-tremor-brand-emphasis">
            Log in
          </Link>
        </>
      }
    >
      <Form method="post" noValidate className="space-y-5">
        <input type="hidden" name="csrf" value={csrf} />
        {next ? <input type="hidden" name="next" value={next} /> : null}
        {result ? <FormAlert>{result.formError.message}</FormAlert> : null}
        <TextField label="Email" name="email" type="email" autoComplete="email" required defaultValue={result?.values.email} error={fields.email} />
        <TextField label="Name" name="name" type="text" autoComplete="name" required defaultValue={result?.values.name} error={fields.name} hint="Shown on your dashboard and in alert emails." />
        <TextField label="Password" name="password" type="password" autoComplete="new-password" required minLength={10} error={fields.password} hint="At least 10 characters." />
        <SubmitButton pending={submitting} pendingLabel="Creating account…">
          Create account
        </SubmitButton>
      </Form>
    </AuthLayout>
  );
}
