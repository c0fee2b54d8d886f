import type { MetaFunction } from '@remix-run/node';
import { ComingSoon } from '~/components/coming-soon';

export const meta: MetaFunction = () => [{ title: 'Trends · Staryer Usage' }];

export default function TrendsPage() {
  return <ComingSoon title="Trends" description="Being built." features={['Coming in this release.']} />;
}
