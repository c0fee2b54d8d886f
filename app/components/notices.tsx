import type { ReactNode } from 'react';

/** The outcome of an action that went well, announced to screen readers. */
export function SuccessNotice({ children, testId }: { children: ReactNode; testId?: string }) {
  return (
    <div role="status" data-testid={testId} className="rounded-tremor-default border border-emerald-200 bg-emerald-50 px-4 py-3 text-tremor-default text-emerald-800">
      {children}
    </div>
  );
}

/** Something to read before going on (e.g. a secret shown once). */
export function WarningNotice({ title, titleId, children }: { title: ReactNode; titleId: string; children: ReactNode }) {
  return (
    <section aria-labelledby={titleId} className="rounded-tremor-default border border-amber-300 bg-amber-50 p-5 shadow-tremor-card">
      <h3 id={titleId} className="text-tremor-default font-semibold text-amber-900">
        {title}
      </h3>
      <div className="mt-1 text-tremor-default text-amber-800">{children}</div>
    </section>
  );
}
