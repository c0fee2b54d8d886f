import { z } from 'zod';
import { EMAIL_RECIPIENTS, EMAIL_STATUSES } from '../../db/schema.js';
import { listEmails, type Email } from '../services/email.js';
import { router, tenantProcedure } from '../trpc.js';

export const ZListEmailsInput = z
  .object({ limit: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be ≥ 1').max(200, 'must be at most 200').default(50) })
  .strict()
  .default({ limit: 50 });

/** An email of the delivery log / outbox, without its bodies. */
const ZEmail = z.object({
  id: z.uuid(),
  /** null for system emails to the creator (e.g. an endpoint disabled). */
  alert_id: z.uuid().nullable(),
  recipient: z.enum(EMAIL_RECIPIENTS),
  to: z.string(),
  subject: z.string(),
  /** outbox: kept here because no SMTP_URL is set. */
  status: z.enum(EMAIL_STATUSES),
  /** The last delivery failure. */
  error: z.string().nullable(),
  sent_at: z.iso.datetime().nullable(),
  created_at: z.iso.datetime(),
});

export const ZEmailList = z.object({ emails: z.array(ZEmail) });
export type TEmailList = z.infer<typeof ZEmailList>;

const toApiEmail = (email: Email): z.infer<typeof ZEmail> => ({
  id: email.id,
  alert_id: email.alertId,
  recipient: email.recipient,
  to: email.toAddress,
  subject: email.subject,
  status: email.status,
  error: email.error,
  sent_at: email.sentAt?.toISOString() ?? null,
  created_at: email.createdAt.toISOString(),
});

export const emailsRouter = router({
  /** The delivery log and outbox, newest first. */
  list: tenantProcedure('read')
    .input(ZListEmailsInput)
    .output(ZEmailList)
    .query(async ({ ctx, input }) => ({ emails: (await listEmails(ctx.rt, ctx.creatorId, { limit: input.limit })).map(toApiEmail) })),
});
