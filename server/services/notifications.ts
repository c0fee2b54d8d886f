import { findAlert, isMuted } from '../../db/queries/alerts.js';
import { findCreatorById } from '../../db/queries/creators.js';
import { findCustomerById } from '../../db/queries/customers.js';
import { findMeter } from '../../db/queries/meters.js';
import { ensureSettings } from '../../db/queries/settings.js';
import { withCreator } from '../../db/tenant.js';
import { AppError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { AlertContext } from './alert-context.js';
import { createAlertEmails } from './email.js';
import { createWebhookMessages } from './webhooks.js';

/**
 * Fans a new alert out to its emails and webhook messages, in one transaction. Each
 * email and message is created once (unique keys), so a job that runs twice — or dies
 * half-way and is retried — has the effect of running once; their delivery jobs are
 * enqueued in the same transaction. Muted customer × meter pairs are recorded, not notified.
 */
export async function notifyAlert(rt: Runtime, creatorId: string, alertId: string): Promise<'notified' | 'muted'> {
  return withCreator(rt.db, creatorId, async (tx) => {
    const alert = await findAlert(tx, alertId);
    if (!alert) throw new AppError('not_found', { code: 'not_found', detail: `Alert ${alertId} does not exist.` });
    if (await isMuted(tx, alert.meterId, alert.customerId)) return 'muted';
    const [meter, customer, settings, creator] = await Promise.all([
      findMeter(tx, alert.meterId),
      findCustomerById(tx, alert.customerId),
      ensureSettings(tx, creatorId),
      findCreatorById(tx, creatorId),
    ]);
    if (!meter || !customer || !creator) throw new AppError('not_found', { code: 'not_found', detail: `The meter, customer or creator of alert ${alertId} is gone.` });
    const ctx: AlertContext = { alert, meter, customer, settings, creator };
    await createAlertEmails(rt, tx, ctx);
    await createWebhookMessages(rt, tx, ctx);
    return 'notified';
  });
}
