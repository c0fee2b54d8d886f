import type { ButtonHTMLAttributes, ReactNode } from 'react';

const base =
  'inline-flex items-center justify-center gap-1.5 whitespace-nowrap font-medium focus:outline-none focus-visible:ring-2 focus-visible:ring-offset-1 disabled:cursor-not-allowed disabled:opacity-70 aria-disabled:cursor-wait aria-disabled:opacity-70';

const VARIANTS = {
  primary: `${base} rounded-tremor-default bg-tremor-brand px-4 py-2 text-tremor-default text-tremor-brand-inverted shadow-tremor-input hover:bg-tremor-brand-emphasis focus-visible:ring-tremor-brand-muted`,
  secondary: `${base} rounded-tremor-default border border-tremor-border bg-white px-4 py-2 text-tremor-default text-tremor-content-emphasis shadow-tremor-input hover:bg-tremor-background-muted focus-visible:ring-tremor-brand-muted`,
  small: `${base} rounded-tremor-small px-2.5 py-1 text-tremor-label text-tremor-content-emphasis ring-1 ring-tremor-ring hover:bg-tremor-background-subtle focus-visible:ring-tremor-brand-muted`,
  danger: `${base} rounded-tremor-small bg-red-600 px-3 py-1.5 text-tremor-label text-white hover:bg-red-700 focus-visible:ring-red-300`,
} as const;

export type ButtonVariant = keyof typeof VARIANTS;

export const buttonClassName = (variant: ButtonVariant) => VARIANTS[variant];

/**
 * A form button: type="submit" unless told otherwise. While its form is pending it is
 * `aria-disabled` and ignores clicks, keeping the keyboard focus (a `disabled` one drops it to
 * <body>: form-field.tsx ignoreWhilePending).
 */
export function Button({
  variant = 'primary',
  pending = false,
  pendingLabel,
  children,
  className = '',
  type = 'submit',
  onClick,
  ...props
}: { variant?: ButtonVariant; pending?: boolean; pendingLabel?: ReactNode; children: ReactNode } & ButtonHTMLAttributes<HTMLButtonElement>) {
  return (
    <button
      type={type}
      aria-disabled={pending || undefined}
      onClick={(event) => {
        if (pending) event.preventDefault();
        else onClick?.(event);
      }}
      className={`${VARIANTS[variant]} ${className}`}
      {...props}
    >
      {pending && pendingLabel ? pendingLabel : children}
    </button>
  );
}
