import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { emailMessages, type EMAIL_RECIPIENTS, type EMAIL_STATUSES } from '../schema.js';

export type EmailStatus = (typeof EMAIL_STATUSES)[number];
export type EmailRecipient = (typeof EMAIL_RECIPIENTS)[number];

export type Email = {
  id: string;
  creatorId: string;
  /** null for system emails to the creator (not about one alert). */
  alertId: string | null;
  recipient: EmailRecipient;
  toAddress: string;
  subject: string;
  textBody: string;
  htmlBody: string;
  status: EmailStatus;
  /** The last delivery failure, kept while the email is still pending. */
  error: string | null;
  sentAt: Date | null;
  /** While it is being sent: the time until which no other run sends it. */
  sendingUntil: Date | null;
  createdAt: Date;
};

const fromDb = (row: typeof emailMessages.$inferSelect): Email => ({
  id: row.emailId,
  creatorId: row.creatorId,
  alertId: row.alertId,
  recipient: row.recipient,
  toAddress: row.toAddress,
  subject: row.subject,
  textBody: row.textBody,
  htmlBody: row.htmlBody,
  status: row.status,
  error: row.error,
  sentAt: row.sentAt,
  sendingUntil: row.sendingUntil,
  createdAt: row.createdAt,
});

export type NewEmail = Pick<Email, 'creatorId' | 'alertId' | 'recipient' | 'toAddress' | 'subject' | 'textBody' | 'htmlBody'>;

/**
 * Inserts the emails that do not exist yet: one per alert × recipient (the unique key),
 * so a retried notification never writes a second one. Returns only the new rows.
 */
export async function insertEmailsOnce(tx: Queryable, emails: NewEmail[], at: Date): Promise<Email[]> {
  if (emails.length === 0) return [];
  const rows = await tx
    .insert(emailMessages)
    .values(emails.map((e) => ({ ...e, emailId: crypto.randomUUID(), createdAt: at })))
    .onConflictDoNothing()
    .returning();
  return rows.map(fromDb);
}

/** With `forUpdate`, concurrent senders of the same email wait for each other. */
export async function findEmail(tx: Queryable, emailId: string, options: { forUpdate?: boolean } = {}): Promise<Email | null> {
  const query = tx.select().from(emailMessages).where(eq(emailMessages.emailId, emailId));
  const [row] = options.forUpdate ? await query.for('update') : await query;
  return row ? fromDb(row) : null;
}

export async function markEmailDelivered(tx: Queryable, emailId: string, status: 'sent' | 'outbox', at: Date): Promise<void> {
  await tx
    .update(emailMessages)
    .set({ status, error: null, sentAt: status === 'sent' ? at : null, sendingUntil: null })
    .where(eq(emailMessages.emailId, emailId));
}

/** The last failure, on a still pending email; its claim (if any) released. */
export async function recordEmailError(tx: Queryable, emailId: string, error: string): Promise<void> {
  await tx.update(emailMessages).set({ error, sendingUntil: null }).where(eq(emailMessages.emailId, emailId));
}

/** Given up: the email stays in the log as failed, with its last error. */
export async function markEmailFailed(tx: Queryable, emailId: string, error: string): Promise<void> {
  await tx.update(emailMessages).set({ status: 'failed', error, sendingUntil: null }).where(eq(emailMessages.emailId, emailId));
}

/** Claims the email for one attempt to send it (see email_messages.sending_until). */
export async function claimEmail(tx: Queryable, emailId: string, until: Date): Promise<void> {
  await tx.update(emailMessages).set({ sendingUntil: until }).where(eq(emailMessages.emailId, emailId));
}

export type EmailFilters = { limit: number; before?: Date; alertId?: string };

/** Newest first. */
export async function listEmailRows(tx: Queryable, filters: EmailFilters): Promise<Email[]> {
  const conditions: SQL[] = [];
  if (filters.alertId) conditions.push(eq(emailMessages.alertId, filters.alertId));
  if (filters.before) conditions.push(lt(emailMessages.createdAt, filters.before));
  const rows = await tx
    .select()
    .from(emailMessages)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(emailMessages.createdAt), desc(emailMessages.emailId))
    .limit(filters.limit);
  return rows.map(fromDb);
}
