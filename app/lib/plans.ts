/** The plan names the meters give limits for, sorted. */
export function planNamesOf(meters: Array<{ plan_limits: Array<{ plan_name: string }> }>): string[] {
  return [...new Set(meters.flatMap((m) => m.plan_limits.map((l) => l.plan_name)))].sort();
}

// What to tell a creator about a plan no meter has limits for: the API's warnings say the same.
export { unlimitedPlanNote } from '../../server/schemas/plan-notes';
