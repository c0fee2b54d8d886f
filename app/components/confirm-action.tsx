import { Form, useNavigation } from '@remix-run/react';
import { Button } from '~/components/buttons';
import { CsrfField } from '~/components/csrf-field';

/**
 * A destructive action that needs a second click, as a <details> disclosure so it works
 * without JavaScript: the summary opens a small form with the consequence and the real
 * button, posting `intent` and `id` with the session's CSRF token.
 */
export function ConfirmAction({
  label,
  confirmLabel,
  pendingLabel,
  consequence,
  subject,
  intent,
  id,
  csrf,
  width = 'w-48',
}: {
  label: string;
  confirmLabel: string;
  /** What the button says while its form is sent ("Revoking…"). */
  pendingLabel: string;
  consequence: string;
  /** Read to screen readers after each label, so two rows' buttons differ. */
  subject: string;
  intent: string;
  id: string;
  csrf: string;
  width?: string;
}) {
  const navigation = useNavigation();
  // This row's form, not another row's of the same intent.
  const pending = navigation.state === 'submitting' && navigation.formData?.get('intent') === intent && navigation.formData.get('id') === id;
  return (
    <details
      className="group inline-block text-right"
      onKeyDown={(event) => {
        // Escape closes the confirmation, back on its summary (a native <details> does not).
        if (event.key !== 'Escape' || !event.currentTarget.open) return;
        event.currentTarget.open = false;
        event.currentTarget.querySelector('summary')?.focus();
      }}
    >
      <summary className="inline-block cursor-pointer list-none rounded-tremor-small px-2.5 py-1 text-tremor-label font-medium text-red-600 ring-1 ring-red-200 hover:bg-red-50 group-open:bg-red-50 [&::-webkit-details-marker]:hidden">
        <span className="group-open:hidden">{label}</span>
        <span className="hidden group-open:inline">Cancel</span>
        <span className="sr-only"> {subject}</span>
      </summary>
      <Form method="post" preventScrollReset className={`mt-2 ${width} whitespace-normal text-left`}>
        <CsrfField token={csrf} />
        <input type="hidden" name="intent" value={intent} />
        <input type="hidden" name="id" value={id} />
        <p className="text-tremor-label text-tremor-content-emphasis">{consequence}</p>
        <Button
          variant="danger"
          className="mt-2 w-full"
          pending={pending}
          pendingLabel={
            <>
              {pendingLabel}
              <span className="sr-only"> {subject}</span>
            </>
          }
        >
          {confirmLabel}
          <span className="sr-only"> {subject}</span>
        </Button>
      </Form>
    </details>
  );
}
