import { findReportToAnotherStripeMeter } from '../../db/queries/billing.js';
import { ensureSettings, updateSettingsRow, type Settings } from '../../db/queries/settings.js';
import { listRecordedPeriodsEndingAfter } from '../../db/queries/usage.js';
import type { Tx } from '../../db/client.js';
import { lockCreatorConfig, withCreator } from '../../db/tenant.js';
import { conflict } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TUpdateSettingsInput } from '../schemas/usage.js';
import { unlimitedPlanNote, withWarnings, type Warning } from '../schemas/plan-notes.js';
import { livePlanNames } from './customers.js';
import { periodConflictsWithAnchor } from './periods.js';

const HOUR_MS = 3_600_000;
/** The longest a billing period lasts (a calendar month), and then some. */
const LONGEST_PERIOD_MS = 32 * 24 * HOUR_MS;

export type { Settings };

export const getSettings = (rt: Runtime, creatorId: string) => withCreator(rt.db, creatorId, (tx) => ensureSettings(tx, creatorId));

export async function updateSettings(rt: Runtime, creatorId: string, input: TUpdateSettingsInput): Promise<Settings & { warnings?: Warning[] }> {
  return withCreator(rt.db, creatorId, async (tx) => {
    // The default plan and the grace decide how events are judged (db/tenant.ts).
    await lockCreatorConfig(tx, creatorId, 'exclusive');
    const now = rt.now();
    if (input.late_event_grace_hours !== undefined && input.late_event_grace_hours > (await ensureSettings(tx, creatorId)).lateEventGraceHours) {
      await assertGraceReopensNoOverlap(tx, input.late_event_grace_hours, now);
    }
    const settings = await updateSettingsRow(
      tx,
      creatorId,
      {
        ...(input.default_plan !== undefined ? { defaultPlan: input.default_plan } : {}),
        ...(input.late_event_grace_hours !== undefined ? { lateEventGraceHours: input.late_event_grace_hours } : {}),
      },
      now,
    );
    // A default plan no meter has limits for is kept (new customers are then unlimited), and said.
    const note = input.default_plan ? unlimitedPlanNote(input.default_plan, await livePlanNames(tx), 'default') : null;
    return withWarnings(settings, note ? [{ field: 'default_plan', message: note }] : []);
  });
}

/**
 * A longer late-event grace opens closed periods to events again. Under each customer's
 * anchor now, those periods must be the ones usage was recorded in: a customer whose anchor
 * moved since would get a period taking events again over days a closed period already
 * metered and billed — counted twice, past a hard cap (the overlap an anchor change itself
 * may not make, customers.ts). Such a change is refused (409), naming a customer.
 */
async function assertGraceReopensNoOverlap(tx: Tx, graceHours: number, now: Date): Promise<void> {
  const graceStart = new Date(now.getTime() - graceHours * HOUR_MS);
  const recorded = await listRecordedPeriodsEndingAfter(tx, new Date(graceStart.getTime() - LONGEST_PERIOD_MS));
  // The rule an anchor change is held to (customers.ts), with the customer's anchor now and the new grace.
  // Nor may it open a period whose usage went to a Stripe meter the meter is no longer linked
  // to: its late usage would go to the new one (5 on calls, 3 on calls_v2), the split a link
  // change is refused for (meters.ts, meter-stripe-link-fixed).
  const reported = await findReportToAnotherStripeMeter(tx, graceStart);
  if (reported) {
    throw conflict(
      'late_event_grace_reopens_period',
      `A late-event grace of ${graceHours} h would open a billing period ending ${reported.periodEnd.toISOString()} to events again, whose usage of meter "${reported.eventName}" was reported to the Stripe meter "${reported.reportedTo}" it is no longer linked to: its late usage would go to the new Stripe meter, splitting the period's usage between two. Keep the grace shorter, or raise it once that period lies further back than the grace.`,
      'late_event_grace_hours',
    );
  }
  const period = recorded.find((p) => periodConflictsWithAnchor(p, p.anchor, graceStart));
  if (period) {
    throw conflict(
      'late_event_grace_reopens_period',
      `A late-event grace of ${graceHours} h would open billing periods to events again over customer "${period.userId}"'s period ${period.start.toISOString()} – ${period.end.toISOString()}, which has usage recorded and other bounds under the customer's billing anchor now: the same days would be metered twice. Keep the grace shorter, or raise it once that period lies further back than the grace.`,
      'late_event_grace_hours',
    );
  }
}
