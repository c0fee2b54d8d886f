import { Badge } from '@tremor/react';
import type { z } from 'zod';
import type { ZBillingStatusRow } from '../../server/schemas/billing';

/**
 * Words and colours for the billing health of one customer × meter × period, typed by
 * the server's enum so a new status fails typecheck until it is described here.
 */
export type BillingStatus = z.infer<typeof ZBillingStatusRow>['status'];

/** How the summary groups statuses: in sync, drifting (behind or Stripe disagrees), failing. */
export type BillingHealth = 'in_sync' | 'drifting' | 'failing';

export const BILLING_STATUSES = {
  in_sync: { label: 'In sync', color: 'emerald', health: 'in_sync', description: 'Stripe has everything we counted.' },
  behind: { label: 'Behind', color: 'amber', health: 'drifting', description: 'Usage counted since the last report; the next report sends it.' },
  drifting: { label: 'Drifting', color: 'orange', health: 'drifting', description: 'At the last reconciliation Stripe’s total differed from what we reported.' },
  pending: { label: 'Pending', color: 'sky', health: 'drifting', description: 'A report is waiting or being retried.' },
  failed: { label: 'Failed', color: 'red', health: 'failing', description: 'Stripe refused the last report, or it failed after every retry.' },
  unknown: { label: 'Unknown', color: 'violet', health: 'failing', description: 'Stripe never answered a report; reconcile to learn whether it counted.' },
} as const satisfies Record<BillingStatus, { label: string; color: 'emerald' | 'amber' | 'orange' | 'sky' | 'red' | 'violet'; health: BillingHealth; description: string }>;

export function BillingStatusBadge({ status }: { status: BillingStatus }) {
  const { label, color, description } = BILLING_STATUSES[status];
  return (
    <Badge color={color} size="xs" title={description} data-testid="billing-status">
      {label}
    </Badge>
  );
}
