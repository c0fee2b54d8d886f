import { ensureSettings, updateSettingsRow, type Settings } from '../../db/queries/settings.js';
import { lockCreatorConfig, withCreator } from '../../db/tenant.js';
import type { Runtime } from '../runtime.js';
import type { TUpdateSettingsInput } from '../schemas/usage.js';

export type { Settings };

export const getSettings = (rt: Runtime, creatorId: string) => withCreator(rt.db, creatorId, (tx) => ensureSettings(tx, creatorId));

export async function updateSettings(rt: Runtime, creatorId: string, input: TUpdateSettingsInput): Promise<Settings> {
  return withCreator(rt.db, creatorId, async (tx) => {
    // The default plan and the grace decide how events are judged (db/tenant.ts).
    await lockCreatorConfig(tx, creatorId, 'exclusive');
    return updateSettingsRow(
      tx,
      creatorId,
      {
        ...(input.default_plan !== undefined ? { defaultPlan: input.default_plan } : {}),
        ...(input.late_event_grace_hours !== undefined ? { lateEventGraceHours: input.late_event_grace_hours } : {}),
      },
      rt.now(),
    );
  });
}
