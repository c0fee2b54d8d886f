import type { MetaFunction } from '@remix-run/node';
import { ComingSoon } from '~/components/coming-soon';

export const meta: MetaFunction = () => [{ title: 'Customers · Staryer Usage' }];

const FEATURES = [
  'Every customer your apps report usage for, with their plan and billing period.',
  'Usage against each limit in the current and previous period, with overage quantity and amount.',
  'Their Stripe customer and subscription items.',
] as const;

export default function CustomersPage() {
  return <ComingSoon title="Customers" description="Your customers, their plans and what they have used." features={FEATURES} />;
}
