import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import type { Tx } from '../../db/client.js';
import { findCreatorById } from '../../db/queries/creators.js';
import {
  claimEmail,
  findEmail,
  insertEmailsOnce,
  listEmailRows,
  markEmailDelivered,
  markEmailFailed,
  recordEmailError,
  type Email,
  type NewEmail,
} from '../../db/queries/emails.js';
import { findSettings } from '../../db/queries/settings.js';
import { withCreator } from '../../db/tenant.js';
import { enqueueInTx } from '../../jobs/queues.js';
import type { TEnv } from '../env.js';
import { notFound } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { AlertContext } from './alert-context.js';
import { CLAIM_MARGIN_MS, holdsClaim, isClaimed, runAgainAfterClaim } from './claims.js';
import { emailSubject, renderCreatorAlertEmail, renderCustomerAlertEmail, renderNoticeHtml } from './email-templates.js';
import { backoffDelayMs, type RetrySchedule } from './backoff.js';

const HOUR = 3_600_000;

/**
 * When an email the SMTP server refused is tried again, and when it is given up on: as
 * webhooks, for 3 days (an SMTP outage of hours must not lose an alert), sooner at first. A
 * module object so tests can shorten it.
 */
export const EMAIL_RETRY: RetrySchedule & { giveUpAfterMs: number } = {
  delaysMs: [10_000, 30_000, 120_000, 600_000, 1_800_000, HOUR],
  tailMs: [HOUR, 2 * HOUR],
  jitter: 0.2,
  giveUpAfterMs: 72 * HOUR,
};

export type { Email };

/** Where the creator reviews alerts; the link in every creator alert email. */
export function alertsDashboardUrl(env: TEnv): string {
  const base = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  return `${base}/creator/dashboard/usage/alerts`;
}

async function insertAndQueue(rt: Runtime, tx: Tx, emails: NewEmail[]): Promise<Email[]> {
  const inserted = await insertEmailsOnce(tx, emails, rt.now());
  // Only rows this transaction created get a job: a retried alerts.notify finds its
  // emails already there and sends nothing twice.
  for (const email of inserted) await enqueueInTx(rt.boss, tx, 'email.send', { creatorId: email.creatorId, emailId: email.id });
  return inserted;
}

/**
 * The emails of one alert, inside the alerts.notify transaction (tenant already set):
 * to the creator when the alert's kind is one they chose, and to the customer when the
 * creator emails customers and the customer has an address. At most one per recipient,
 * ever; each new one is queued for sending in the same transaction.
 */
export async function createAlertEmails(rt: Runtime, tx: Tx, ctx: AlertContext): Promise<void> {
  const { alert, creator, customer, settings } = ctx;
  const emails: NewEmail[] = [];
  if (settings.alertEmailKinds.includes(alert.kind)) {
    const rendered = renderCreatorAlertEmail(ctx, { alertsUrl: alertsDashboardUrl(rt.env) });
    emails.push({
      creatorId: creator.id,
      alertId: alert.id,
      recipient: 'creator',
      toAddress: settings.alertEmail ?? creator.email,
      subject: rendered.subject,
      textBody: rendered.text,
      htmlBody: rendered.html,
    });
  }
  if (settings.emailCustomers && customer.email) {
    const rendered = renderCustomerAlertEmail(ctx);
    emails.push({
      creatorId: creator.id,
      alertId: alert.id,
      recipient: 'customer',
      toAddress: customer.email,
      subject: rendered.subject,
      textBody: rendered.text,
      htmlBody: rendered.html,
    });
  }
  await insertAndQueue(rt, tx, emails);
}

export type CreatorEmailInput = { subject: string; text: string; html?: string };

/**
 * A system email to the creator (e.g. "your webhook endpoint was disabled"), sent to their
 * alert address or, without one, their account email. Without `html`, the HTML part is
 * built from the text (escaped). Queued in the caller's transaction.
 */
export async function queueCreatorEmail(rt: Runtime, tx: Tx, creatorId: string, input: CreatorEmailInput): Promise<Email> {
  const [creator, settings] = await Promise.all([findCreatorById(tx, creatorId), findSettings(tx, creatorId)]);
  if (!creator) throw notFound('Creator');
  const subject = emailSubject(input.subject);
  const [email] = await insertAndQueue(rt, tx, [
    {
      creatorId,
      alertId: null,
      recipient: 'creator',
      toAddress: settings?.alertEmail ?? creator.email,
      subject,
      textBody: input.text,
      htmlBody: input.html ?? renderNoticeHtml(subject, input.text),
    },
  ]);
  return email!;
}

/** One SMTP transport per runtime, made on first use (nodemailer opens connections per send, or pools with `?pool=true`). */
const transports = new WeakMap<Runtime, { url: string; transport: Transporter }>();

/**
 * Each wait of a send is bounded (connecting, the greeting, any one answer), and the send as
 * a whole by SMTP_TIMEOUT_MS: the socket timeout restarts at every answer, so a server
 * answering each command slowly could otherwise keep one send going past its claim.
 */
const smtpTimeouts = (totalMs: number) => ({ connectionTimeout: Math.min(15_000, totalMs), greetingTimeout: Math.min(15_000, totalMs), socketTimeout: Math.min(30_000, totalMs) });

function transportFor(rt: Runtime, url: string): Transporter {
  const cached = transports.get(rt);
  if (cached?.url === url) return cached.transport;
  cached?.transport.close();
  const transport = nodemailer.createTransport({ url, ...smtpTimeouts(rt.env.SMTP_TIMEOUT_MS) });
  transports.set(rt, { url, transport });
  return transport;
}

/** Closes the runtime's SMTP transport, if one was made (pooled connections keep a process alive). */
export function closeEmailTransport(rt: Runtime): void {
  transports.get(rt)?.transport.close();
  transports.delete(rt);
}

const MAX_ERROR_LENGTH = 2000;

function describeSmtpError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH - 1)}…` : message;
}

/** How long a claimed email stays claimed: the send's deadline, and the margin to record the outcome. */
export const emailClaimMs = (rt: Runtime): number => rt.env.SMTP_TIMEOUT_MS + CLAIM_MARGIN_MS;

/**
 * Delivers one email, idempotently: a sent (or outboxed) email is never sent again. With
 * SMTP_URL it goes out over SMTP and is marked sent; without, it is marked 'outbox' (shown
 * in the dashboard). An SMTP failure is recorded on the row and the next attempt queued
 * with backoff (EMAIL_RETRY), in the same transaction; 3 days after the email was created it
 * is marked failed instead, with its last error. (pg-boss's own retries are for failures of
 * ours: the database, a crash.)
 *
 * No transaction stays open while the SMTP server takes its time: a short one claims the
 * email (`sending_until`), the message is handed over, another records the outcome. A run
 * that finds the email claimed (a duplicate job, a concurrent call) sends nothing and
 * looks again once the claim lapses — by then it is sent, or its sender died and this
 * run sends it. Sending and marking cannot be one atomic step: if the record after a
 * successful send fails, the retry sends again, with the same Message-ID so mail systems
 * can tell.
 */
export async function sendEmail(rt: Runtime, creatorId: string, emailId: string, attempt = 1): Promise<void> {
  const url = rt.env.SMTP_URL;
  const claimed = await withCreator(rt.db, creatorId, async (tx) => {
    const email = await findEmail(tx, emailId, { forUpdate: true });
    if (!email) {
      rt.log.warn({ creatorId, emailId }, 'email to send not found; nothing to do');
      return null;
    }
    // Sent, kept in the outbox, or given up: final.
    if (email.status !== 'pending') return null;
    if (!url) {
      await markEmailDelivered(tx, emailId, 'outbox', rt.now());
      return null;
    }
    const now = rt.now();
    if (isClaimed(email.sendingUntil, now)) {
      await runAgainAfterClaim(rt.boss, tx, 'email.send', { creatorId, emailId }, emailId, email.sendingUntil!, now);
      return null;
    }
    const until = new Date(now.getTime() + emailClaimMs(rt));
    await claimEmail(tx, emailId, until);
    return { email, until };
  });
  if (!claimed || !url) return;
  const { email, until } = claimed;
  let failure: unknown = null;
  try {
    await transportFor(rt, url).sendMail({
      from: rt.env.MAIL_FROM,
      to: email.toAddress,
      subject: email.subject,
      text: email.textBody,
      html: email.htmlBody,
      messageId: `<${email.id}@${messageIdDomain(rt.env.MAIL_FROM)}>`,
      headers: { 'X-Staryer-Email-Id': email.id, ...(email.alertId ? { 'X-Staryer-Alert-Id': email.alertId } : {}) },
      // The send's deadline: nodemailer closes the connection and fails the send when it fires.
      signal: AbortSignal.timeout(rt.env.SMTP_TIMEOUT_MS),
    } as SendMailOptions);
  } catch (error) {
    failure = error ?? new Error('SMTP delivery failed');
  }
  await withCreator(rt.db, creatorId, async (tx) => {
    const current = await findEmail(tx, emailId, { forUpdate: true });
    if (!current || current.status !== 'pending') return;
    // A successful send is a fact whoever holds the claim now; a failure is recorded only
    // by the claim's holder (another run may have taken a lapsed claim over meanwhile).
    if (!failure) {
      await markEmailDelivered(tx, emailId, 'sent', rt.now());
      return;
    }
    if (!holdsClaim(current.sendingUntil, until)) return;
    const error = describeSmtpError(failure);
    const now = rt.now();
    if (now.getTime() - current.createdAt.getTime() >= EMAIL_RETRY.giveUpAfterMs) {
      await markEmailFailed(tx, emailId, error);
      rt.log.error({ creatorId, emailId, attempt, err: failure }, 'email delivery failed for 3 days; given up');
      return;
    }
    await recordEmailError(tx, emailId, error);
    const inMs = backoffDelayMs(EMAIL_RETRY, attempt);
    await enqueueInTx(rt.boss, tx, 'email.send', { creatorId, emailId, attempt: attempt + 1 }, { startInMs: inMs, singletonKey: `${emailId}:${attempt + 1}` });
    rt.log.warn({ creatorId, emailId, attempt, retryInMs: inMs, err: failure }, 'email delivery failed; the next attempt is queued');
  });
}

/** The domain of MAIL_FROM ("Name <alerts@example.com>" → "example.com"), for Message-IDs. */
function messageIdDomain(from: string): string {
  const match = /@([^>\s]+)>?\s*$/.exec(from);
  return match?.[1] ?? 'staryer.localhost';
}

export type ListEmailsOptions = { limit: number; before?: Date; alertId?: string };

/** The delivery log and outbox, newest first. */
export function listEmails(rt: Runtime, creatorId: string, options: ListEmailsOptions): Promise<Email[]> {
  return withCreator(rt.db, creatorId, (tx) => listEmailRows(tx, options));
}
