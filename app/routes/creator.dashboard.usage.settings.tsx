import type { MetaFunction } from '@remix-run/node';
import { ComingSoon } from '~/components/coming-soon';

export const meta: MetaFunction = () => [{ title: 'Settings · Staryer Usage' }];

const FEATURES = [
  'The default plan for customers your apps report before you assign them one.',
  'The late-event grace for events of a closed period.',
  'Your Stripe key or Connect account, and how often usage is reported.',
] as const;

export default function SettingsPage() {
  return <ComingSoon title="Settings" description="Defaults for your account." features={FEATURES} />;
}
