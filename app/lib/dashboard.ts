import { useRouteLoaderData } from '@remix-run/react';
import type { loader as dashboardLoader } from '~/routes/creator.dashboard.usage';
import { DASHBOARD_PATH } from './safe-redirect';

export { DASHBOARD_PATH };

const DASHBOARD_ROUTE_ID = 'routes/creator.dashboard.usage';

/** The dashboard's sections, in navigation order; `slug` '' is the overview. */
export const DASHBOARD_SECTIONS = [
  { slug: '', label: 'Overview' },
  { slug: 'trends', label: 'Trends' },
  { slug: 'customers', label: 'Top users' },
  { slug: 'revenue', label: 'Revenue' },
  { slug: 'meters', label: 'Meters' },
  { slug: 'alerts', label: 'Alerts' },
  { slug: 'reports', label: 'Reports' },
  { slug: 'billing', label: 'Billing' },
  { slug: 'keys', label: 'API keys' },
  { slug: 'settings', label: 'Settings' },
] as const;

export type DashboardSlug = (typeof DASHBOARD_SECTIONS)[number]['slug'];

export const dashboardPath = (slug: DashboardSlug) => (slug ? `${DASHBOARD_PATH}/${slug}` : DASHBOARD_PATH);

/** A customer's page: any user id, encoded as one path segment. */
export const customerPath = (userId: string) => `${dashboardPath('customers')}/${encodeURIComponent(userId)}`;

/** The logged-in creator and the session's CSRF token, loaded once by the dashboard layout. */
export function useDashboard() {
  const data = useRouteLoaderData<typeof dashboardLoader>(DASHBOARD_ROUTE_ID);
  if (!data) throw new Error('useDashboard is only available below /creator/dashboard/usage');
  return data;
}
