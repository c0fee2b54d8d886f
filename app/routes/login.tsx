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

export const meta: MetaFunction = () => [{ title: 'Log in · Staryer Usage' }];

export const headers = pageHeaders;

export const loader = ({ request, context }: LoaderFunctionArgs) => loadAnonymousForm(request, context);

export async function action({ request, context }: ActionFunctionArgs) {
  const formData = await readFormData(request);
  requireAnonymousCsrf(request, formData);
  const values = { email: formText(formData, 'email') };
  const { caller, session } = await getCaller(request, context);
  try {
    const grant = await caller.auth.login({ ...values, password: formText(formData, 'password') });
    // The session this browser's cookie held (a form sent over it) ends: the cookie gets the new one.
    if (session) await caller.auth.logout();
    return startSession(grant, formData.get('next'), context);
  } catch (error) {
    // The server answers one message for an unknown email and a wrong password alike.
    return authFormFailure(error, values);
  }
}

export default function LoginPage() {
  const { csrf, next } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const submitting = useNavigation().state === 'submitting';
  const fields = result?.formError.fields ?? {};
  return (
    <AuthLayout
      title="Log in to your dashboard"
      subtitle="Usage, limits and billing for your SaaS."
      footer={
        <>
          New to Staryer Usage?{' '}
          <Link to={next ? `/signup?next=${encodeURIComponent(next)}` : '/signup'} className="font-medium text-tremor-brand hover:text-tremor-brand-emphasis">
            Create an account
          </Link>
        </>
      }
    >
      <Form method="post" noValidate className="space-y-5">
        <input type="hidden" name="csrf" value={csrf} />
        {next ? <input type="hidden" name="next" value={next} /> : null}
        {result ? <FormAlert>{result.formError.message}</FormAlert> : null}
        <TextField label="Email" name="email" type="email" autoComplete="email" required defaultValue={result?.values.email} error={fields.email} />
        <TextField label="Password" name="password" type="password" autoComplete="current-password" required error={fields.password} />
        <SubmitButton pending={submitting} pendingLabel="Logging in…">
          Log in
        </SubmitButton>
      </Form>
    </AuthLayout>
  );
}
