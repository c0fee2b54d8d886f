/**
 * Plans exist only as names in meters' plan limits: a customer or default plan named
 * otherwise (a typo, "Pro" for "pro") is a plan with no limits on any meter — usage never
 * limited, no overage billed. It is allowed (a plan with no limits anywhere is how a creator
 * gives unlimited use), so what sets one is told so: the dashboard's pages, and the API's
 * answer as `warnings`. Pure: the dashboard's pages use it too.
 */

/** What to tell a creator about a plan no live meter has limits for (null: nothing to tell). */
export function unlimitedPlanNote(plan: string | null, planNames: string[], who: 'customer' | 'default'): string | null {
  if (plan === null || planNames.length === 0 || planNames.includes(plan)) return null;
  const alike = planNames.find((name) => name.toLowerCase() === plan.toLowerCase());
  const known = alike ? `Did you mean “${alike}”? Plan names are matched exactly.` : `Plans with limits: ${planNames.join(', ')}.`;
  return who === 'customer'
    ? `No meter has limits for plan “${plan}”: this customer’s usage is never limited and no overage is billed. ${known}`
    : `No meter has limits for plan “${plan}”: new customers get no limits and no overage is billed. ${known}`;
}

/** A note on a write that succeeded: what the creator may not have meant. */
export type Warning = { field: string; message: string };
