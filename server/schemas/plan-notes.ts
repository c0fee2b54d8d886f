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

/** An answer with its `warnings`, which appear only when there are some. */
export const withWarnings = <T extends object>(value: T, warnings: Warning[]): T & { warnings?: Warning[] } => (warnings.length > 0 ? { ...value, warnings } : value);

/** A plan limit as a meter's request sets it (TPlanLimitInput's fields after defaults). */
type LimitSet = { plan_name: string; limit_value: string | null; overage_price: string | null; soft_limit_threshold: string | null; hard_cap: boolean };
/** A plan's limit as it was before the request. */
type LimitWas = { planName: string; limitValue: string | null; overagePrice: string | null; softLimitThreshold: string | null; hardCap: boolean };

/**
 * What to tell a creator about the plan limits a meter's create or change sets (empty: nothing).
 * A listed plan's limit is set whole, so a field left out of a PATCH takes its default: a hard
 * cap, overage price or soft threshold the plan had is then dropped without anyone asking —
 * said here, with the value it had. And a combination that does nothing is named: a hard cap
 * on an unlimited plan, an overage price on a hard-capped one (a hard cap bills no overage).
 */
export function planLimitNotes(limits: readonly LimitSet[], before: readonly LimitWas[] = []): Warning[] {
  return limits.flatMap((limit, index) => {
    const at = (field: string) => `plan_limits[${index}].${field}`;
    const notes: Warning[] = [];
    if (limit.hard_cap && limit.limit_value === null) {
      notes.push({ field: at('hard_cap'), message: 'has no effect: limit_value is null, so the plan is unlimited and nothing is capped.' });
    }
    if (limit.soft_limit_threshold !== null && limit.limit_value === null) {
      notes.push({ field: at('soft_limit_threshold'), message: 'has no effect: limit_value is null, so the plan is unlimited and no soft-limit alert is raised.' });
    }
    if (limit.overage_price !== null && limit.limit_value === null) {
      notes.push({ field: at('overage_price'), message: 'is never charged: limit_value is null, so the plan is unlimited and no usage is past its limit.' });
    }
    if (limit.hard_cap && limit.limit_value !== null && limit.overage_price !== null) {
      notes.push({
        field: at('overage_price'),
        message: 'is never charged: a hard-capped plan refuses events past its limit and bills no overage, not even for usage already past a lowered limit. Turn hard_cap off to bill usage past the limit at this price.',
      });
    }
    const was = before.find((l) => l.planName === limit.plan_name);
    if (was) {
      const setWhole = 'A listed plan’s limit is set whole: a field left out takes its default.';
      if (was.limitValue !== null && limit.limit_value === null) {
        notes.push({
          field: at('limit_value'),
          message: `was ${was.limitValue} and is now null: the plan is unlimited from now on — no event is refused or billed as overage for it. ${setWhole} Send limit_value again to keep the limit.`,
        });
      }
      if (was.hardCap && !limit.hard_cap) {
        notes.push({ field: at('hard_cap'), message: `was true and is now false: events past the limit are accepted from now on. ${setWhole} Send hard_cap: true to keep the cap.` });
      }
      if (was.overagePrice !== null && limit.overage_price === null) {
        notes.push({ field: at('overage_price'), message: `was ${was.overagePrice} and is now cleared: usage past the limit is no longer billed. ${setWhole} Send overage_price again to keep it.` });
      }
      if (was.softLimitThreshold !== null && limit.soft_limit_threshold === null) {
        notes.push({
          field: at('soft_limit_threshold'),
          message: `was ${was.softLimitThreshold} and is now cleared: no soft-limit alert is raised for this plan. ${setWhole} Send soft_limit_threshold again to keep it.`,
        });
      }
    }
    return notes;
  });
}
