import type { ReactNode, SelectHTMLAttributes } from 'react';
import { fieldMessage } from '~/lib/form';
import { inputClassName } from './form-field';

type SelectFieldProps = {
  label: string;
  name: string;
  options: ReadonlyArray<{ value: string; label: string }>;
  /** The server's message for this field, if any. */
  error?: string;
  hint?: ReactNode;
  /** Id prefix, for pages where two forms have a field of the same name. */
  idPrefix?: string;
} & Omit<SelectHTMLAttributes<HTMLSelectElement>, 'name' | 'id' | 'children'>;

/** A native select (keyboard and screen-reader friendly, works without JavaScript) with its label and error. */
export function SelectField({ label, name, options, error, hint, className, idPrefix = 'field', ...select }: SelectFieldProps) {
  const id = `${idPrefix}-${name}`;
  const message = fieldMessage(label, error);
  const describedBy = message ? `${id}-error` : hint ? `${id}-hint` : undefined;
  return (
    <div className={className}>
      <label htmlFor={id} className="block text-tremor-default font-medium text-tremor-content-strong">
        {label}
      </label>
      <select id={id} name={name} aria-invalid={message ? true : undefined} aria-describedby={describedBy} className={`mt-1.5 ${inputClassName}`} {...select}>
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
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

const checkboxClassName = 'mt-0.5 h-4 w-4 shrink-0 rounded border-tremor-border text-tremor-brand focus:ring-tremor-brand-muted';

/** One checkbox with its label and a line of description. */
export function CheckboxField({
  id,
  name,
  value,
  label,
  description,
  defaultChecked,
  mono = false,
}: {
  id: string;
  name: string;
  value?: string;
  label: ReactNode;
  description?: ReactNode;
  defaultChecked?: boolean;
  mono?: boolean;
}) {
  return (
    <div className="flex items-start gap-3 rounded-tremor-default border border-tremor-border p-3 has-[:checked]:border-tremor-brand-subtle has-[:checked]:bg-tremor-brand-faint">
      <input
        id={id}
        name={name}
        type="checkbox"
        value={value ?? 'on'}
        defaultChecked={defaultChecked}
        aria-describedby={description ? `${id}-description` : undefined}
        className={checkboxClassName}
      />
      <div className="min-w-0">
        <label htmlFor={id} className={`text-tremor-default font-medium text-tremor-content-strong ${mono ? 'break-all font-mono' : ''}`}>
          {label}
        </label>
        {description ? (
          <p id={`${id}-description`} className="text-tremor-label text-tremor-content">
            {description}
          </p>
        ) : null}
      </div>
    </div>
  );
}

/** A set of checkboxes sharing one name, with a legend and one error for the set. */
export function CheckboxGroup({
  legend,
  name,
  options,
  checked,
  error,
  mono = false,
  columns = 2,
}: {
  legend: string;
  name: string;
  options: ReadonlyArray<{ value: string; label: string; description?: string }>;
  checked: readonly string[];
  error?: string;
  mono?: boolean;
  columns?: 2 | 4;
}) {
  const errorId = `${name}-error`;
  return (
    <fieldset aria-describedby={error ? errorId : undefined}>
      <legend className="text-tremor-default font-medium text-tremor-content-strong">{legend}</legend>
      <div className={`mt-2 grid gap-3 ${columns === 4 ? 'sm:grid-cols-2 xl:grid-cols-4' : 'sm:grid-cols-2'}`}>
        {options.map((option) => (
          <CheckboxField
            key={option.value}
            id={`${name}-${option.value}`}
            name={name}
            value={option.value}
            label={option.label}
            description={option.description}
            defaultChecked={checked.includes(option.value)}
            mono={mono}
          />
        ))}
      </div>
      {error ? (
        <p id={errorId} className="mt-2 text-tremor-label text-red-600">
          {error}
        </p>
      ) : null}
    </fieldset>
  );
}
