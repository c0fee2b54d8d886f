import { Form, useNavigation } from '@remix-run/react';
import { Card } from '@tremor/react';
import { useState } from 'react';
import type { TMeter } from '../../server/schemas/meters';
import { Button } from '~/components/buttons';
import { SelectField } from '~/components/choice-fields';
import { CsrfField } from '~/components/csrf-field';
import { FormAlert } from '~/components/form-field';
import { unitFor } from '~/lib/format';
import { formatDecimal, formatFractionAsPercent, formatMoney } from '~/lib/numbers';
import { planNamesOf } from '~/lib/plans';

type MeterLimits = Pick<TMeter, 'id' | 'event_name' | 'unit_name' | 'plan_limits'>;

/** A plan's terms on a meter as the customer will be judged and billed by them: the limit, a hard cap, the soft limit and the overage price. */
const describeLimit = (meter: MeterLimits, plan: string) => {
  const limit = plan ? meter.plan_limits.find((l) => l.plan_name === plan) : undefined;
  if (!limit || limit.limit_value === null) return 'unlimited';
  const terms = [`${formatDecimal(limit.limit_value)} ${unitFor(formatDecimal(limit.limit_value), meter.unit_name)}${limit.hard_cap ? ' (hard cap)' : ''}`];
  if (limit.soft_limit_threshold !== null) terms.push(`soft limit at ${formatFractionAsPercent(limit.soft_limit_threshold)}`);
  if (!limit.hard_cap && limit.overage_price !== null) terms.push(`then ${formatMoney(limit.overage_price)} each`);
  return terms.join(' · ');
};

/**
 * Moves the customer to another plan through customers.upsert. The effect is shown before
 * saving: each meter's limit now → under the chosen plan, from now on.
 */
export function ChangePlanForm({
  action,
  currentPlan,
  meters,
  csrf,
  error,
}: {
  /** The customer page's path, its user_id encoded (customerPath). */
  action: string;
  currentPlan: string | null;
  meters: MeterLimits[];
  csrf: string;
  error: { message: string; fields: Record<string, string> } | null;
}) {
  const navigation = useNavigation();
  const plans = planNamesOf(meters);
  if (currentPlan && !plans.includes(currentPlan)) plans.unshift(currentPlan);
  const [chosen, setChosen] = useState(currentPlan ?? '');
  const changes = meters.filter((m) => describeLimit(m, currentPlan ?? '') !== describeLimit(m, chosen));
  return (
    <Card>
      <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Change plan</h2>
      <p className="mt-1 text-tremor-default text-tremor-content">
        The new plan’s limits apply from now on: usage so far this period stays, and the next event is judged against the new limit. Earlier periods keep the plan they
        ended on.
      </p>
      {/* Posted to the customer's own encoded path: Remix's default is the decoded one, where a user_id holding "#" or "?" names another customer. */}
      <Form method="post" action={action} className="mt-4 space-y-4" aria-label="Change plan">
        <CsrfField token={csrf} />
        <input type="hidden" name="intent" value="plan" />
        {error ? <FormAlert>{error.message}</FormAlert> : null}
        <div className="flex flex-col gap-4 sm:flex-row sm:items-start">
          <SelectField
            label="Plan"
            name="plan_name"
            idPrefix="plan"
            className="sm:w-72"
            value={chosen}
            onChange={(event) => setChosen(event.currentTarget.value)}
            error={error?.fields['customer.plan_name']}
            options={[{ value: '', label: 'No plan (unlimited)' }, ...plans.map((p) => ({ value: p, label: p === currentPlan ? `${p} (current)` : p }))]}
          />
          <div className="sm:pt-7">
            <Button pending={navigation.state === 'submitting' && navigation.formData?.get('intent') === 'plan'} pendingLabel="Saving…">
              Save plan
            </Button>
          </div>
        </div>
        {chosen !== (currentPlan ?? '') ? (
          <div className="rounded-tremor-default border border-tremor-border bg-tremor-background-muted px-4 py-3" data-testid="plan-effect">
            <p className="text-tremor-default font-medium text-tremor-content-strong">From now on:</p>
            {changes.length === 0 ? (
              <p className="mt-1 text-tremor-default text-tremor-content">No limit changes.</p>
            ) : (
              <ul className="mt-1 space-y-0.5 text-tremor-default text-tremor-content">
                {changes.map((m) => (
                  <li key={m.id}>
                    <span className="font-mono text-[12px]">{m.event_name}</span>: {describeLimit(m, currentPlan ?? '')} → <strong>{describeLimit(m, chosen)}</strong>
                  </li>
                ))}
              </ul>
            )}
          </div>
        ) : null}
      </Form>
    </Card>
  );
}
