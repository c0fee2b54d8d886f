import type { ReactNode } from 'react';

export function PageHeader({ title, description, children }: { title: string; description?: ReactNode; children?: ReactNode }) {
  return (
    <div className="mb-8 flex flex-col gap-4 sm:flex-row sm:items-end sm:justify-between">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight text-tremor-content-strong">{title}</h1>
        {description ? <p className="mt-1 max-w-2xl text-tremor-default text-tremor-content">{description}</p> : null}
      </div>
      {children}
    </div>
  );
}
