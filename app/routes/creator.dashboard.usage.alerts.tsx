import type { MetaFunction } from '@remix-run/node';
import { ComingSoon } from '~/components/coming-soon';

export const meta: MetaFunction = () => [{ title: 'Alerts · Staryer Usage' }];

const FEATURES = [
  'Soft-limit, hard-limit and overage alerts per customer and meter, with their status and acknowledgement.',
  'Webhook endpoints signed per Standard Webhooks, and their deliveries.',
  'Who gets alert emails: you, your customers, or both.',
] as const;

export default function AlertsPage() {
  return <ComingSoon title="Alerts" description="Threshold crossings and how your team and customers hear about them." features={FEATURES} />;
}
