import type { MetaFunction } from '@remix-run/node';
import { ComingSoon } from '~/components/coming-soon';

export const meta: MetaFunction = () => [{ title: 'Meters · Staryer Usage' }];

const FEATURES = [
  'Your meters — API calls, storage, messages, minutes — with their event name, aggregation (count, sum, max, unique, duration) and unit.',
  'Per-plan limits: included quantity, overage price, soft-limit threshold and hard cap.',
  'The link from each meter to a Stripe Billing Meter.',
] as const;

export default function MetersPage() {
  return <ComingSoon title="Meters" description="What you measure and what each plan may use." features={FEATURES} />;
}
