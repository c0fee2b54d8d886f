import { Card } from '@tremor/react';
import { PageHeader } from './page-header';

/** A section that is not built yet: what it will hold, and no made-up numbers. */
export function ComingSoon({ title, description, features }: { title: string; description: string; features: readonly string[] }) {
  return (
    <>
      <PageHeader title={title} description={description} />
      <Card className="max-w-2xl">
        <span className="inline-flex items-center rounded-tremor-full bg-tremor-brand-faint px-2.5 py-0.5 text-tremor-label font-medium text-tremor-brand-emphasis">
          Coming soon
        </span>
        <h2 className="mt-4 text-tremor-title font-semibold text-tremor-content-strong">What you will find here</h2>
        <ul className="mt-3 space-y-2 text-tremor-default text-tremor-content">
          {features.map((feature) => (
            <li key={feature} className="flex gap-2">
              <span aria-hidden="true" className="mt-2 h-1.5 w-1.5 shrink-0 rounded-full bg-tremor-brand-subtle" />
              <span>{feature}</span>
            </li>
          ))}
        </ul>
      </Card>
    </>
  );
}
