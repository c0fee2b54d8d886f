import type { ReactNode } from 'react';
import { Card } from '@tremor/react';
import { BrandMark } from './brand-mark';

/** The frame of the sign-up and log-in pages. */
export function AuthLayout({ title, subtitle, children, footer }: { title: string; subtitle: string; children: ReactNode; footer: ReactNode }) {
  return (
    <main className="flex min-h-full flex-col items-center justify-center px-4 py-12">
      <div className="w-full max-w-sm">
        <div className="mb-8 flex flex-col items-center text-center">
          <BrandMark />
          <h1 className="mt-6 text-tremor-title font-semibold text-tremor-content-strong">{title}</h1>
          <p className="mt-1 text-tremor-default text-tremor-content">{subtitle}</p>
        </div>
        <Card className="p-6">{children}</Card>
        <p className="mt-6 text-center text-tremor-default text-tremor-content">{footer}</p>
      </div>
    </main>
  );
}
