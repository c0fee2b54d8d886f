import type { MetaFunction } from '@remix-run/node';
import { ComingSoon } from '~/components/coming-soon';

export const meta: MetaFunction = () => [{ title: 'Billing · Staryer Usage' }];

const FEATURES = [
  'Per customer, meter and period: our quantity, the quantity reported and Stripe’s at the last reconciliation.',
  'Failed reports with their last error, and a button to sync now.',
] as const;

export default function BillingPage() {
  return <ComingSoon title="Billing" description="What is reported to Stripe, and whether Stripe agrees." features={FEATURES} />;
}
