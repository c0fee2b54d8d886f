import { sql, type SQL } from 'drizzle-orm';

/** A timestamp parameter, typed for Postgres (a bare Date cannot be bound in a raw `sql` template). */
export const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`;

/** A uuid[] parameter, for `= any(…)` over ids we generated (uuids: no quoting needed). */
export const uuidArray = (ids: string[]) => sql`${`{${ids.join(',')}}`}::uuid[]`;

/**
 * A period counter (alias of usage_aggregates) that no later period of the same customer ×
 * meter starts inside. Periods of one customer overlap only after Stripe moved the billing
 * anchor while the old period had usage (billing.ts warns): the old one is then over for
 * metering (new events go to the new period, as the usage answer shows), and counting it as
 * current — or as the previous period — too would price and rank the customer twice. One
 * primary-key probe per row. `period` names the alias's period columns (usage_alerts: period_start, period_end).
 */
export const notSuperseded = (alias: string, period: { start: string; end: string } = { start: 'window_start', end: 'window_end' }) => {
  const [a, start, end] = [sql.raw(alias), sql.raw(period.start), sql.raw(period.end)];
  return sql`not exists (
    select 1 from usage_aggregates later
    where later.creator_id = ${a}.creator_id and later.meter_id = ${a}.meter_id and later.customer_id = ${a}.customer_id
      and later."window" = 'period' and later.window_start > ${a}.${start} and later.window_start < ${a}.${end})`;
};

/**
 * What units beyond a limit cost: the quantity rounded half-even to 9 decimals, times the
 * price, rounded again. The amount is the quantity as answered × the price, as
 * usage-snapshot.ts overage() computes it, because Stripe is sent the rounded quantity and
 * bills that (ADR 0013); pricing the unrounded quantity would drift from the invoice.
 */
export const overageAmountSql = (quantityOver: SQL, price: SQL): SQL =>
  sql`app_round_half_even(app_round_half_even(${quantityOver}, 9) * ${price}, 9)`;
