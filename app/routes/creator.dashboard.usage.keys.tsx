import { json, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { Badge, Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { TCreateApiKeyInput } from '../../server/schemas/api-keys';
import { CopyButton, OneTimeSecret } from '~/components/copy-button';
import { CsrfField } from '~/components/csrf-field';
import { DataTable } from '~/components/data-table';
import { FormAlert, ignoreWhilePending, TextField } from '~/components/form-field';
import { SuccessNotice, useFocusIfLost } from '~/components/notices';
import { PageHeader } from '~/components/page-header';
import { requireCreator } from '~/lib/caller.server';
import { requireSessionCsrf } from '~/lib/csrf.server';
import { readFormData } from '~/lib/form.server';
import { useDashboard } from '~/lib/dashboard';
import { formErrorHeaders, toFormError } from '~/lib/errors.server';
import { formAlertMessage, formText, type FormFailure } from '~/lib/form';
import { ConfirmAction } from '~/components/confirm-action';
import { Timestamp } from '~/components/timestamp';
import { formatDateTime } from '~/lib/format';
import { pageHeaders } from '~/lib/page-headers';

export const meta: MetaFunction = () => [{ title: 'API keys · Staryer Usage' }];

export const headers = pageHeaders;

type ApiKeyScope = TCreateApiKeyInput['scopes'][number];

/** Every scope the server knows, with what it allows; a new scope fails typecheck until it is described. */
const SCOPES = {
  track: { label: 'track', description: 'Send usage events and check remaining quota.' },
  read: { label: 'read', description: 'Read meters, customers, usage and reports.' },
  admin: { label: 'admin', description: 'Manage meters, customers, keys and settings. Includes read and track.' },
} as const satisfies Record<ApiKeyScope, { label: string; description: string }>;

const SCOPE_NAMES = Object.keys(SCOPES) as ApiKeyScope[];

const isScope = (value: unknown): value is ApiKeyScope => typeof value === 'string' && Object.hasOwn(SCOPES, value);

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const { keys } = await caller.apiKeys.list();
  return json({ keys }, { headers: { 'Cache-Control': 'private, no-store' } });
}

type CreatedKey = { id: string; name: string; prefix: string; apiKey: string };
type ActionResult = {
  intent: 'create' | 'revoke';
  created: CreatedKey | null;
  revoked: { name: string; prefix: string } | null;
  formError: FormFailure | null;
  values: { name: string; scopes: string[] };
};

export async function action({ request, context }: ActionFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const formData = await readFormData(request);
  requireSessionCsrf(request, session, formData);
  const intent = formText(formData, 'intent');
  if (intent !== 'create' && intent !== 'revoke') throw json({ message: 'This form does not exist.' }, { status: 400 });

  const values = { name: formText(formData, 'name'), scopes: formData.getAll('scopes').filter(isScope) };
  const result: ActionResult = { intent, created: null, revoked: null, formError: null, values };
  try {
    if (intent === 'create') {
      const key = await caller.apiKeys.create({ name: values.name, scopes: values.scopes });
      result.created = { id: key.id, name: key.name, prefix: key.prefix, apiKey: key.api_key };
      // The secret is in this response only: no cache may keep it.
      return json(result, { headers: { 'Cache-Control': 'no-store' } });
    }
    const key = await caller.apiKeys.revoke({ id: formText(formData, 'id') });
    result.revoked = { name: key.name, prefix: key.prefix };
    return json(result);
  } catch (error) {
    const formError = toFormError(error);
    result.formError = { status: formError.status, message: formAlertMessage(formError), fields: formError.fields };
    return json(result, { status: formError.status, headers: formErrorHeaders(formError) });
  }
}

function NewKeyNotice({ created }: { created: CreatedKey }) {
  // The form that created it is rebuilt empty for the next key: focus comes here instead of <body>.
  const ref = useFocusIfLost<HTMLElement>(created);
  return (
    <section
      ref={ref}
      tabIndex={-1}
      aria-labelledby="new-key-title"
      className="mb-8 rounded-tremor-default border border-amber-300 bg-amber-50 p-5 shadow-tremor-card focus:outline-none focus-visible:ring-2 focus-visible:ring-amber-400"
    >
      <h2 id="new-key-title" className="text-tremor-default font-semibold text-amber-900 [overflow-wrap:anywhere]">
        Your new API key “{created.name}”
      </h2>
      <p className="mt-1 text-tremor-default text-amber-800">
        Copy it now and store it somewhere safe. <strong>It will not be shown again</strong> — we keep only a hash of it.
      </p>
      <OneTimeSecret value={created.apiKey} testId="new-api-key" copyLabel="Copy key" />
    </section>
  );
}

function CreateKeyForm({ result, csrf }: { result: ActionResult | undefined; csrf: string }) {
  const navigation = useNavigation();
  const creating = navigation.state === 'submitting' && navigation.formData?.get('intent') === 'create';
  const failed = result?.intent === 'create' && result.formError ? result : null;
  const fields = failed?.formError?.fields ?? {};
  // The server's wording is for API clients; here the fix is a checkbox.
  const scopesError = fields.scopes ? 'Choose at least one scope.' : undefined;
  const checkedScopes: readonly string[] = failed ? failed.values.scopes : ['track'];
  return (
    <Card>
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Create a key</h2>
      {/* A new key remounts the form, which clears it. */}
      <Form method="post" noValidate className="mt-4 space-y-6" key={result?.created?.id ?? 'new'}>
        <CsrfField token={csrf} />
        <input type="hidden" name="intent" value="create" />
        {failed?.formError ? <FormAlert>{failed.formError.message}</FormAlert> : null}
        <TextField
          className="max-w-md"
          label="Name"
          name="name"
          type="text"
          required
          maxLength={100}
          placeholder="Production backend"
          defaultValue={failed?.values.name}
          error={fields.name}
          hint="Where the key is used, so you know what breaks if you revoke it."
        />
        <fieldset aria-describedby={scopesError ? 'scopes-error' : undefined}>
          <legend className="text-tremor-default font-medium text-tremor-content-strong">Scopes</legend>
          <div className="mt-2 grid gap-3 md:grid-cols-3">
            {SCOPE_NAMES.map((scope) => (
              <div key={scope} className="flex items-start gap-3 rounded-tremor-default border border-tremor-border p-3 has-[:checked]:border-tremor-brand-subtle has-[:checked]:bg-tremor-brand-faint">
                <input
                  id={`scope-${scope}`}
                  name="scopes"
                  type="checkbox"
                  value={scope}
                  defaultChecked={checkedScopes.includes(scope)}
                  aria-describedby={`scope-${scope}-description`}
                  className="mt-0.5 h-4 w-4 rounded border-tremor-border text-tremor-brand focus:ring-tremor-brand-muted"
                />
                <div>
                  <label htmlFor={`scope-${scope}`} className="font-mono text-tremor-default font-medium text-tremor-content-strong">
                    {SCOPES[scope].label}
                  </label>
                  <p id={`scope-${scope}-description`} className="text-tremor-label text-tremor-content">
                    {SCOPES[scope].description}
                  </p>
                </div>
              </div>
            ))}
          </div>
          {scopesError ? (
            <p id="scopes-error" className="mt-2 text-tremor-label text-red-600">
              {scopesError}
            </p>
          ) : null}
        </fieldset>
        <button
          type="submit"
          aria-disabled={creating || undefined}
          onClick={ignoreWhilePending(creating)}
          className="inline-flex items-center justify-center rounded-tremor-default bg-tremor-brand px-4 py-2 text-tremor-default font-medium text-tremor-brand-inverted shadow-tremor-input hover:bg-tremor-brand-emphasis focus:outline-none focus-visible:ring-2 focus-visible:ring-tremor-brand-muted focus-visible:ring-offset-2 aria-disabled:cursor-wait aria-disabled:opacity-70"
        >
          {creating ? 'Creating…' : 'Create key'}
        </button>
      </Form>
    </Card>
  );
}

/** The day in the table; the exact time on hover. */

export default function ApiKeysPage() {
  const { keys } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const { csrf, creator } = useDashboard();
  const revokeError = result?.intent === 'revoke' ? result.formError : null;
  return (
    <>
      <PageHeader
        title="API keys"
        description="Your backend sends usage with a key as “Authorization: Bearer <key>”. Give each app its own key with only the scopes it needs."
      />
      {result?.created ? <NewKeyNotice created={result.created} /> : null}
      {result?.revoked ? (
        <div className="mb-6">
          <SuccessNotice focusIfLost={result}>
            <span className="[overflow-wrap:anywhere]">Revoked “{result.revoked.name}” ({result.revoked.prefix}). Requests with it now answer 401.</span>
          </SuccessNotice>
        </div>
      ) : null}
      {revokeError ? (
        <div className="mb-6">
          <FormAlert>{revokeError.message}</FormAlert>
        </div>
      ) : null}
      <div className="space-y-8">
        <Card>
          <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Your creator id</h2>
          <p className="mt-1 text-tremor-default text-tremor-content">
            The SDK’s <code className="font-mono">creatorId</code> (<code className="font-mono">initUsageTracking</code>,{' '}
            <code className="font-mono">UsageTrackingProvider</code>): browser tokens are checked against it. Not a secret.
          </p>
          <div className="mt-4 flex flex-col gap-3 sm:flex-row sm:items-center">
            <code data-testid="creator-id" className="block min-w-0 flex-1 select-all break-all rounded-tremor-small border border-tremor-border bg-tremor-background-muted px-3 py-2 font-mono text-[13px] text-tremor-content-strong">
              {creator.id}
            </code>
            <CopyButton text={creator.id} label="Copy creator id" />
          </div>
        </Card>
        <CreateKeyForm result={result} csrf={csrf} />
        <Card className="p-0">
          <div className="px-6 pt-6">
            <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Your keys</h2>
            <p className="mt-1 text-tremor-default text-tremor-content">Only the prefix of a key is kept in readable form.</p>
          </div>
          {keys.length === 0 ? (
            <p className="px-6 pb-8 pt-6 text-tremor-default text-tremor-content" data-testid="no-keys">
              No API keys yet. Create one to start sending usage.
            </p>
          ) : (
            <DataTable className="mt-4" aria-label="API keys">
              <TableHead>
                <TableRow>
                  <TableHeaderCell className="pl-6">Name</TableHeaderCell>
                  <TableHeaderCell>Prefix</TableHeaderCell>
                  <TableHeaderCell>Scopes</TableHeaderCell>
                  <TableHeaderCell>Created</TableHeaderCell>
                  <TableHeaderCell>Last used</TableHeaderCell>
                  <TableHeaderCell>Status</TableHeaderCell>
                  <TableHeaderCell className="pr-6 text-right">
                    <span className="sr-only">Actions</span>
                  </TableHeaderCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {keys.map((key) => (
                  <TableRow key={key.id} data-testid="api-key-row" data-prefix={key.prefix}>
                    {/* A name is up to 100 characters, perhaps without a space: cut to its cell (whole on
                        hover), or it widened the table until Revoke was off the card. */}
                    <TableCell className="max-w-[16rem] pl-6 font-medium text-tremor-content-strong">
                      <span className="block truncate" title={key.name} data-testid="api-key-name">
                        {key.name}
                      </span>
                    </TableCell>
                    <TableCell>
                      <code className="font-mono text-[13px]">{key.prefix}</code>
                    </TableCell>
                    <TableCell>
                      <div className="flex flex-wrap gap-1">
                        {key.scopes.map((scope) => (
                          <Badge key={scope} color={scope === 'admin' ? 'violet' : scope === 'read' ? 'sky' : 'gray'} size="xs">
                            {scope}
                          </Badge>
                        ))}
                      </div>
                    </TableCell>
                    <TableCell>
                      <Timestamp iso={key.created_at} />
                    </TableCell>
                    <TableCell>{key.last_used_at ? <Timestamp iso={key.last_used_at} /> : 'Never'}</TableCell>
                    <TableCell>
                      {key.revoked_at ? (
                        <span title={`Revoked ${formatDateTime(key.revoked_at)}`} className="inline-flex">
                          <Badge color="red" size="xs">
                            Revoked
                          </Badge>
                        </span>
                      ) : (
                        <Badge color="emerald" size="xs">
                          Active
                        </Badge>
                      )}
                    </TableCell>
                    <TableCell className="pr-6 text-right">{key.revoked_at ? null : <ConfirmAction
                            label="Revoke"
                            confirmLabel="Revoke key"
                            pendingLabel="Revoking…"
                            consequence="Apps using this key stop working at once."
                            subject={key.name}
                            intent="revoke"
                            id={key.id}
                            csrf={csrf}
                            width="w-44"
                          />}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </DataTable>
          )}
        </Card>
      </div>
    </>
  );
}
