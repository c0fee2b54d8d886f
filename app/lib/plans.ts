/**
 * Plans exist only as names in meters' plan limits: a customer or default plan named
 * otherwise (a typo, "Pro" for "pro") is a plan with no limits on any meter — usage never
 * limited, no overage billed. Pages that show a plan say so.
 */

/** The plan names the meters give limits for, sorted. */
export function planNamesOf(meters: Array<{ plan_limits: Array<{ plan_name: string }> }>): string[] {
  return [...new Set(meters.flatMap((m) => m.plan_limits.map((l) => l.plan_name)))].sort();
}

/** What to tell a creator about a plan no meter has limits for (null: nothing to tell). */
export function unlimitedPlanNote(plan: string | null, planNames: string[], who: 'customer' | 'default'): string | null {
  if (plan === null || planNames.length === 0 || planNames.includes(plan)) return null;
  const known = `Plans with limits: ${planNames.join(', ')}.`;
  return who === 'customer'
    ? `No meter has limits for plan “${plan}”: this customer’s usage is never limited and no overage is billed. ${known}`
    : `No meter has limits for plan “${plan}”: new customers get no limits and no overage is billed. ${known}`;
}
