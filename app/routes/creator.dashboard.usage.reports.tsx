import type { MetaFunction } from '@remix-run/node';
import { ComingSoon } from '~/components/coming-soon';

export const meta: MetaFunction = () => [{ title: 'Reports · Staryer Usage' }];

const FEATURES = [
  'Usage per meter, customer and plan over hours, days and billing periods.',
  'Forecasts of where each customer will end the period.',
  'Exports and scheduled reports.',
] as const;

export default function ReportsPage() {
  return <ComingSoon title="Reports" description="Usage over time, for you and your finance team." features={FEATURES} />;
}
