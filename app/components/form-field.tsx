import type { InputHTMLAttributes, ReactNode } from 'react';
import { fieldMessage } from '~/lib/form';

type TextFieldProps = {
  label: string;
  name: string;
  /** The server's message for this field, if any. */
  error?: string;
  hint?: ReactNode;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'name' | 'id'>;

export const inputClassName =
  'block w-full rounded-tremor-default border-tremor-border bg-white text-tremor-default text-tremor-content-strong shadow-tremor-input placeholder:text-tremor-content-subtle focus:border-tremor-brand-subtle focus:ring-2 focus:ring-tremor-brand-muted aria-[invalid=true]:border-red-400 aria-[invalid=true]:focus:ring-red-200';

/** A labelled input with its error or hint underneath, tied together for screen readers. */
export function TextField({ label, name, error, hint, className, ...input }: TextFieldProps) {
  const id = `field-${name}`;
  const message = fieldMessage(label, error);
  const describedBy = message ? `${id}-error` : hint ? `${id}-hint` : undefined;
  return (
    <div className={className}>
      <label htmlFor={id} className="block text-tremor-default font-medium text-tremor-content-strong">
        {label}
      </label>
      <input id={id} name={name} aria-invalid={message ? true : undefined} aria-describedby={describedBy} className={`mt-1.5 ${inputClassName}`} {...input} />
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

/** The form-level message (wrong credentials, rate limit, conflicts without a field). */
export function FormAlert({ children }: { children: ReactNode }) {
  return (
    <div role="alert" className="rounded-tremor-default border border-red-200 bg-red-50 px-3 py-2 text-tremor-default text-red-700">
      {children}
    </div>
  );
}

/**
 * While its form is sending, a submit button is `aria-disabled` and ignores clicks (an Enter in
 * a field clicks it too), not `disabled`: a button that becomes disabled loses the keyboard
 * focus to <body>, and the next Tab starts again from the top of the page.
 */
export const ignoreWhilePending = (pending: boolean | undefined) => (event: { preventDefault: () => void }) => {
  if (pending) event.preventDefault();
};

export function SubmitButton({ children, pending, pendingLabel }: { children: ReactNode; pending?: boolean; pendingLabel?: string }) {
  return (
    <button
      type="submit"
      aria-disabled={pending || undefined}
      onClick={ignoreWhilePending(pending)}
      className="inline-flex w-full items-center justify-center rounded-tremor-default bg-tremor-brand px-4 py-2 text-tremor-default font-medium text-tremor-brand-inverted shadow-tremor-input hover:bg-tremor-brand-emphasis focus:outline-none focus-visible:ring-2 focus-visible:ring-tremor-brand-muted focus-visible:ring-offset-2 aria-disabled:cursor-wait aria-disabled:opacity-70"
    >
      {pending && pendingLabel ? pendingLabel : children}
    </button>
  );
}
