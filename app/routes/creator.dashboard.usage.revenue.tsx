import type { MetaFunction } from '@remix-run/node';
import { ComingSoon } from '~/components/coming-soon';

export const meta: MetaFunction = () => [{ title: 'Revenue · Staryer Usage' }];

export default function RevenuePage() {
  return <ComingSoon title="Revenue" description="Being built." features={['Coming in this release.']} />;
}
