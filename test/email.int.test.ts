import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertKind } from '../db/schema.js';
import { insertAlertsOnce } from '../db/queries/alerts.js';
import { findCreatorById } from '../db/queries/creators.js';
import { insertEmailsOnce } from '../db/queries/emails.js';
import { updateSettingsRow, type Settings } from '../db/queries/settings.js';
import { withCreator } from '../db/tenant.js';
import { ZCreateMeterInput } from '../server/schemas/meters.js';
import { ZUpsertCustomerInput } from '../server/schemas/usage.js';
import type { Runtime } from '../server/runtime.js';
import type { AlertContext } from '../server/services/alert-context.js';
import { upsertCustomer } from '../server/services/customers.js';
import { createAlertEmails, EMAIL_RETRY, emailClaimMs, listEmails, queueCreatorEmail, sendEmail, type Email } from '../server/services/email.js';
import { createMeter } from '../server/services/meters.js';
import { startFakeSmtpServer } from './fakes/smtp-server.js';
import { useTestDatabase } from './harness/db.js';
import { createCreatorWithKey, uniqueEmail } from './harness/fixtures.js';
import { startTestRuntime } from './harness/server.js';

const smtp = await startFakeSmtpServer();
afterAll(() => smtp.close());

const env = { SMTP_URL: smtp.url, MAIL_FROM: 'Staryer Alerts <alerts@staryer.test>', PUBLIC_URL: 'https://usage.example.com/' };
const { url } = await useTestDatabase();
const booted = await startTestRuntime(url, { env, workers: true });
afterAll(() => booted.close());
const { rt } = booted;

// A second deployment without SMTP_URL, on its own database (its workers must not share jobs with the first).
const outboxDatabase = await useTestDatabase();
const outboxBooted = await startTestRuntime(outboxDatabase.url, { env: { PUBLIC_URL: env.PUBLIC_URL }, workers: true });
afterAll(() => outboxBooted.close());

// A deployment whose sends may take 1 s in all (SMTP_TIMEOUT_MS), on its own database and
// without workers: the first deployment's workers must not send its emails.
const quickDatabase = await useTestDatabase();

const PERIOD_START = new Date('2031-05-01T00:00:00Z');
const PERIOD_END = new Date('2031-06-01T00:00:00Z');
const UPGRADE_URL = 'https://acme.example/pricing?plan=pro&ref=alert';

type Given = {
  kind?: AlertKind;
  meterName?: string;
  customerEmail?: string | null;
  settings?: Partial<Pick<Settings, 'alertEmail' | 'alertEmailKinds' | 'emailCustomers' | 'upgradeUrl'>>;
};

/** A creator with settings, a meter, a customer and one alert, as alerts.notify would load them. */
async function givenAlert(runtime: Runtime, given: Given = {}): Promise<AlertContext> {
  const { creator: account } = await createCreatorWithKey(runtime);
  const creatorId = account.id;
  const meter = await createMeter(
    runtime,
    creatorId,
    ZCreateMeterInput.parse({
      event_name: 'api_call',
      display_name: given.meterName ?? 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'pro', limit_value: '1000', soft_limit_threshold: '0.8' }],
    }),
  );
  const customerEmail = given.customerEmail === undefined ? uniqueEmail('customer') : given.customerEmail;
  const { customer } = await upsertCustomer(runtime, creatorId, 'user_42', ZUpsertCustomerInput.parse({ plan_name: 'pro', email: customerEmail, name: 'Ada' }));
  const kind = given.kind ?? 'soft_limit_reached';
  return withCreator(runtime.db, creatorId, async (tx) => {
    const settings = await updateSettingsRow(tx, creatorId, { emailCustomers: true, upgradeUrl: UPGRADE_URL, ...given.settings }, runtime.now());
    const [alert] = await insertAlertsOnce(
      tx,
      [
        {
          creatorId,
          meterId: meter.id,
          customerId: customer.id,
          kind,
          threshold: kind === 'soft_limit_reached' ? '0.8' : '1',
          periodStart: PERIOD_START,
          periodEnd: PERIOD_END,
          used: kind === 'soft_limit_reached' ? '850' : '1000',
          limitValue: '1000',
        },
      ],
      runtime.now(),
    );
    const creator = (await findCreatorById(tx, creatorId))!;
    return { alert: alert!, meter, customer, settings, creator };
  });
}

const notify = (runtime: Runtime, ctx: AlertContext) => withCreator(runtime.db, ctx.creator.id, (tx) => createAlertEmails(runtime, tx, ctx));

/** Polls until fn returns a value (not undefined/false); fails with the last value after the timeout. */
async function eventually<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const emailsOf = (runtime: Runtime, creatorId: string) => listEmails(runtime, creatorId, { limit: 50 });

/** Every email of the creator has left the pending state (sent or outbox). */
const allDelivered = (runtime: Runtime, creatorId: string, count: number) =>
  eventually(
    async () => {
      const emails = await emailsOf(runtime, creatorId);
      return emails.length === count && emails.every((e) => e.status !== 'pending') && emails;
    },
    `${count} delivered emails`,
  );

/** Every email.send job of this creator has finished (none waiting, retrying or running): nothing more will arrive. */
const queueSettled = (runtime: Runtime, creatorId: string) =>
  eventually(
    async () => (await runtime.boss.findJobs('email.send', { data: { creatorId } })).every((job) => !['created', 'retry', 'active'].includes(job.state)),
    'the email queue to settle',
  );

const mailsTo = (address: string) => smtp.messages.filter((m) => m.envelopeTo.includes(address));

describe('alert emails', () => {
  it('sends one email per recipient, once, with the alert’s facts and escaped HTML', async () => {
    // given a creator with a separate alert address, emailing customers, and a meter whose name carries markup
    const opsEmail = uniqueEmail('ops');
    const ctx = await givenAlert(rt, { meterName: 'API <script>alert("x")</script> calls', settings: { alertEmail: opsEmail } });
    const customerEmail = ctx.customer.email!;

    // when alerts.notify runs twice for the same alert (a retry)
    await notify(rt, ctx);
    await notify(rt, ctx);

    // then exactly one row per recipient, each sent once
    const emails = await allDelivered(rt, ctx.creator.id, 2);
    expect(emails.map((e) => [e.recipient, e.toAddress, e.status, e.alertId]).sort()).toEqual(
      [
        ['creator', opsEmail, 'sent', ctx.alert.id],
        ['customer', customerEmail, 'sent', ctx.alert.id],
      ].sort(),
    );
    for (const email of emails) {
      expect(email.sentAt).toBeInstanceOf(Date);
      expect(email.error).toBeNull();
    }
    await queueSettled(rt, ctx.creator.id);
    expect(mailsTo(opsEmail)).toHaveLength(1);
    expect(mailsTo(customerEmail)).toHaveLength(1);
    expect(mailsTo(ctx.creator.email)).toHaveLength(0);

    const toCreator = mailsTo(opsEmail)[0]!;
    const creatorRow = emails.find((e) => e.recipient === 'creator')!;
    expect(toCreator.envelopeFrom).toBe('alerts@staryer.test');
    expect(toCreator.from).toBe('alerts@staryer.test');
    expect(toCreator.messageId).toBe(`<${creatorRow.id}@staryer.test>`);
    expect(toCreator.headers.get('x-staryer-alert-id')).toBe(ctx.alert.id);
    expect(toCreator.subject).toBe('Soft limit reached: user_42 at 85% of API <script>alert("x")</script> calls');
    for (const fact of ['user_42', 'api_call', '850 calls', '1,000 calls', '85%', 'soft limit reached (80% of the limit)', '2031-06-01 00:00 UTC']) {
      expect(toCreator.text).toContain(fact);
      expect(toCreator.html).toContain(fact);
    }
    expect(toCreator.text).toContain('https://usage.example.com/creator/dashboard/usage/alerts');
    expect(toCreator.html).toContain('href="https://usage.example.com/creator/dashboard/usage/alerts"');
    expect(toCreator.html).toContain('API &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; calls');
    expect(toCreator.html).not.toContain('<script');

    const toCustomer = mailsTo(customerEmail)[0]!;
    expect(toCustomer.subject).toBe(`[${ctx.creator.name}] You have used 85% of your API <script>alert("x")</script> calls limit`);
    for (const fact of ['user_42', '850 calls', '1,000 calls', '85%', '2031-06-01 00:00 UTC']) {
      expect(toCustomer.text).toContain(fact);
      expect(toCustomer.html).toContain(fact);
    }
    expect(toCustomer.text).toContain('Hi Ada,');
    expect(toCustomer.text).toContain(`Upgrade your plan: ${UPGRADE_URL}`);
    expect(toCustomer.html).toContain('href="https://acme.example/pricing?plan=pro&amp;ref=alert"');
    expect(toCustomer.html).not.toContain('<script');
    expect(toCustomer.text).not.toContain('/creator/dashboard');
  });

  it('words each kind of alert and leaves the upgrade link out when none is set', async () => {
    const ctx = await givenAlert(rt, { kind: 'hard_limit_reached', settings: { upgradeUrl: null } });
    await notify(rt, ctx);
    await allDelivered(rt, ctx.creator.id, 2);
    const toCreator = mailsTo(ctx.creator.email)[0]!;
    expect(toCreator.subject).toBe('Hard limit reached: user_42 at 100% of API calls');
    expect(toCreator.text).toContain('Further usage is refused until the period ends on 2031-06-01 00:00 UTC');
    const toCustomer = mailsTo(ctx.customer.email!)[0]!;
    expect(toCustomer.subject).toBe(`[${ctx.creator.name}] You have reached your API calls limit`);
    expect(toCustomer.text).toContain(`To change your plan, contact ${ctx.creator.name}.`);
    expect(toCustomer.text).not.toContain('Upgrade your plan');
  });

  it('emails the creator only about the kinds they chose', async () => {
    const ctx = await givenAlert(rt, { settings: { alertEmailKinds: ['hard_limit_reached', 'overage_started'] } });
    await notify(rt, ctx);
    const emails = await allDelivered(rt, ctx.creator.id, 1);
    expect(emails[0]!.recipient).toBe('customer');
    await smtp.waitFor((m) => m.envelopeTo.includes(ctx.customer.email!));
    await queueSettled(rt, ctx.creator.id);
    expect(mailsTo(ctx.creator.email)).toHaveLength(0);
  });

  it('emails customers only when the creator turned it on and the customer has an address', async () => {
    const off = await givenAlert(rt, { settings: { emailCustomers: false } });
    await notify(rt, off);
    const emails = await allDelivered(rt, off.creator.id, 1);
    expect(emails[0]!.recipient).toBe('creator');
    await queueSettled(rt, off.creator.id);
    expect(mailsTo(off.customer.email!)).toHaveLength(0);
    expect(mailsTo(off.creator.email)).toHaveLength(1);

    const noAddress = await givenAlert(rt, { customerEmail: null });
    await notify(rt, noAddress);
    expect((await allDelivered(rt, noAddress.creator.id, 1)).map((e) => e.recipient)).toEqual(['creator']);
  });

  it('keeps emails in the outbox, sending nothing, when no SMTP_URL is set', async () => {
    const outboxRt = outboxBooted.rt;
    const ctx = await givenAlert(outboxRt);
    const before = smtp.messages.length;
    await notify(outboxRt, ctx);
    const emails = await allDelivered(outboxRt, ctx.creator.id, 2);
    expect(emails.map((e) => e.status)).toEqual(['outbox', 'outbox']);
    expect(emails.every((e) => e.sentAt === null)).toBe(true);
    await queueSettled(outboxRt, ctx.creator.id);
    expect(smtp.messages.length).toBe(before);
    // The outbox keeps the whole message for the dashboard.
    const toCreator = emails.find((e) => e.recipient === 'creator')!;
    expect(toCreator.textBody).toContain('850 calls');
    expect(toCreator.htmlBody).toContain('href="https://usage.example.com/creator/dashboard/usage/alerts"');
  });

  it('tries again with backoff while the SMTP server refuses, recording each error, and delivers once it accepts', async () => {
    const ctx = await givenAlert(rt, { settings: { emailCustomers: false } });
    smtp.rejectNext(2, 451, 'Mailbox busy, try again later');
    const rejectedBefore = smtp.rejectedCount;
    await notify(rt, ctx);
    const [email] = await emailsOf(rt, ctx.creator.id);

    // Each failed attempt leaves the email pending with its error and queues the next attempt
    // with backoff (10 s and up); the test pulls each one forward instead of sleeping through it.
    const errors = new Set<string>();
    const delivered = await eventually(async () => {
      const [row] = await emailsOf(rt, ctx.creator.id);
      if (row!.status === 'sent') return row!;
      if (row!.error) errors.add(row!.error);
      for (const job of await rt.boss.findJobs('email.send', { data: { emailId: email!.id } })) {
        if (job.state === 'created' || job.state === 'retry') await rt.boss.update({ name: 'email.send', options: { id: job.id, startAfter: new Date() } });
      }
      return undefined;
    }, 'the email to be delivered after two refusals');

    expect(smtp.rejectedCount - rejectedBefore).toBe(2);
    expect([...errors].some((e) => e.includes('451') && e.includes('Mailbox busy'))).toBe(true);
    // Three attempts, each its own job: the first, then the 2nd and 3rd queued by the failures.
    const jobs = await rt.boss.findJobs('email.send', { data: { emailId: email!.id } });
    expect(jobs.map((j) => (j.data as { attempt?: number }).attempt ?? 1).sort()).toEqual([1, 2, 3]);
    expect(delivered.error).toBeNull();
    await queueSettled(rt, ctx.creator.id);
    expect(mailsTo(ctx.creator.email)).toHaveLength(1);
  });

  it('sendEmail: a failure stays pending with its error and queues the next attempt; a sent email is never sent again, even concurrently', async () => {
    const ctx = await givenAlert(rt, { settings: { emailCustomers: false } });
    const creatorId = ctx.creator.id;
    // A row without a job, so only this test's calls (and the attempt a failure queues) deliver it.
    const [email] = await withCreator(rt.db, creatorId, (tx) =>
      insertEmailsOnce(tx, [{ creatorId, alertId: ctx.alert.id, recipient: 'creator', toAddress: ctx.creator.email, subject: 'Direct', textBody: 'direct', htmlBody: '<p>direct</p>' }], rt.now()),
    );

    smtp.reject(451, 'Greylisted');
    try {
      await sendEmail(rt, creatorId, email!.id);
    } finally {
      smtp.accept();
    }
    const [failed] = await emailsOf(rt, creatorId);
    expect(failed).toMatchObject({ status: 'pending', sentAt: null });
    expect(failed!.error).toMatch(/451.*Greylisted/);
    const [next] = await rt.boss.findJobs('email.send', { data: { emailId: email!.id, attempt: 2 } });
    expect(next?.state).toBe('created');
    expect(next!.startAfter.getTime()).toBeGreaterThan(Date.now() + 5_000);

    await Promise.all([sendEmail(rt, creatorId, email!.id), sendEmail(rt, creatorId, email!.id)]);
    await sendEmail(rt, creatorId, email!.id);
    expect(mailsTo(ctx.creator.email)).toHaveLength(1);
    const [sent] = await emailsOf(rt, creatorId);
    expect(sent).toMatchObject({ status: 'sent', error: null });
  });

  it('gives an email up, as failed with its last error, once the SMTP server has refused it for 3 days', async () => {
    const ctx = await givenAlert(rt, { settings: { emailCustomers: false } });
    const creatorId = ctx.creator.id;
    const [email] = await withCreator(rt.db, creatorId, (tx) =>
      insertEmailsOnce(tx, [{ creatorId, alertId: ctx.alert.id, recipient: 'creator', toAddress: ctx.creator.email, subject: 'Old', textBody: 'old', htmlBody: '<p>old</p>' }], rt.now()),
    );
    const giveUpAfterMs = EMAIL_RETRY.giveUpAfterMs;
    EMAIL_RETRY.giveUpAfterMs = 0; // as if created 3 days ago
    smtp.reject(550, 'No such user');
    try {
      await sendEmail(rt, creatorId, email!.id, 30);
    } finally {
      smtp.accept();
      EMAIL_RETRY.giveUpAfterMs = giveUpAfterMs;
    }
    const [failed] = await emailsOf(rt, creatorId);
    expect(failed).toMatchObject({ status: 'failed', sentAt: null, error: expect.stringMatching(/550.*No such user/) });
    expect(await rt.boss.findJobs('email.send', { data: { emailId: email!.id } })).toEqual([]);
    // Given up is final: a late run sends nothing.
    await sendEmail(rt, creatorId, email!.id);
    expect(mailsTo(ctx.creator.email)).toHaveLength(0);
  });

  it('holds no transaction or row lock while the SMTP server takes its time; a second run meanwhile sends nothing', async () => {
    const ctx = await givenAlert(rt, { settings: { emailCustomers: false } });
    const creatorId = ctx.creator.id;
    smtp.hold();
    try {
      await notify(rt, ctx);
      await eventually(async () => smtp.heldCount === 1, 'the SMTP server to take the email');
      const [email] = await emailsOf(rt, creatorId);
      await new Promise((r) => setTimeout(r, 1_200));
      const longTransactions = await rt.ownerDb.execute(sql`
        select application_name, state from pg_stat_activity
        where datname = current_database() and application_name like 'staryer-usage%' and xact_start < now() - interval '1 second'`);
      expect(longTransactions).toEqual([]);
      await rt.ownerDb.transaction(async (tx) => {
        expect(await tx.execute(sql`select email_id from email_messages where email_id = ${email!.id} for update nowait`)).toHaveLength(1);
      });
      // Claimed by the run under way: another run returns at once, sending nothing…
      await sendEmail(rt, creatorId, email!.id);
      expect(smtp.heldCount).toBe(1);
      const [claimed] = await rt.ownerDb.execute<{ sending_until: string }>(sql`select sending_until from email_messages where email_id = ${email!.id}`);
      expect(new Date(claimed!.sending_until).getTime()).toBeGreaterThan(Date.now() + emailClaimMs(rt) - 10_000);
    } finally {
      smtp.release();
    }
    // …and the one under way records it sent, claim released; one email in all.
    const [sent] = await allDelivered(rt, creatorId, 1);
    expect(sent).toMatchObject({ status: 'sent', error: null, sendingUntil: null });
    expect(mailsTo(ctx.creator.email)).toHaveLength(1);
  });

  it('a send has one deadline, however slowly the server answers each step: past it the send stops and is retried, never still under way when its claim lapses', async () => {
    const quick = await startTestRuntime(quickDatabase.url, { env: { ...env, SMTP_TIMEOUT_MS: '1000' } });
    try {
      const ctx = await givenAlert(quick.rt, { settings: { emailCustomers: false } });
      const creatorId = ctx.creator.id;
      await withCreator(quick.rt.db, creatorId, (tx) => createAlertEmails(quick.rt, tx, ctx));
      const [email] = await emailsOf(quick.rt, creatorId);
      // Each answer comes within the 1 s a single wait may take, but MAIL FROM and RCPT TO take 1.4 s together.
      smtp.slowReplies(700);
      const started = Date.now();
      try {
        await sendEmail(quick.rt, creatorId, email!.id);
      } finally {
        smtp.slowReplies(null);
      }
      expect(Date.now() - started).toBeLessThan(1_400);
      const [failed] = await emailsOf(quick.rt, creatorId);
      expect(failed).toMatchObject({ status: 'pending', sentAt: null, sendingUntil: null });
      expect(failed!.error).toMatch(/abort|timed? ?out/i);
      expect(mailsTo(ctx.creator.email)).toHaveLength(0);
      // The retry, with the server quick again, sends it once.
      await sendEmail(quick.rt, creatorId, email!.id);
      expect(mailsTo(ctx.creator.email)).toHaveLength(1);
      expect((await emailsOf(quick.rt, creatorId))[0]).toMatchObject({ status: 'sent', error: null, sendingUntil: null });
    } finally {
      await quick.close();
    }
  });

  it('sends an email whose sender died mid-way once its claim lapses', async () => {
    const ctx = await givenAlert(rt, { settings: { emailCustomers: false } });
    const creatorId = ctx.creator.id;
    // As a process that died while handing the email over leaves it: claimed for 2 s more.
    await withCreator(rt.db, creatorId, async (tx) => {
      await createAlertEmails(rt, tx, ctx);
      await tx.execute(sql`update email_messages set sending_until = now() + interval '2 seconds' where alert_id = ${ctx.alert.id}`);
    });
    const [email] = await emailsOf(rt, creatorId);
    await eventually(
      async () => (await rt.ownerDb.execute(sql`select 1 from pgboss.job where name = 'email.send' and singleton_key like ${`${email!.id}:claim:%`}`)).length === 1,
      'the delivery job to look again later',
    );
    expect(mailsTo(ctx.creator.email)).toHaveLength(0);
    await allDelivered(rt, creatorId, 1);
    expect(mailsTo(ctx.creator.email)).toHaveLength(1);
  });

  it('queues system emails to the creator, and lists the delivery log newest first', async () => {
    const ctx = await givenAlert(rt, { settings: { emailCustomers: false, alertEmail: uniqueEmail('ops') } });
    const creatorId = ctx.creator.id;
    await notify(rt, ctx);
    await allDelivered(rt, creatorId, 1);
    const notice = await withCreator(rt.db, creatorId, (tx) =>
      queueCreatorEmail(rt, tx, creatorId, { subject: 'Webhook endpoint disabled', text: 'Your endpoint https://x.example/<hook> failed for 3 days.\n\nRe-enable it in the dashboard.' }),
    );
    const mail = await smtp.waitFor((m) => m.subject === 'Webhook endpoint disabled' && m.envelopeTo.includes(ctx.settings.alertEmail!));
    expect(mail.text).toContain('https://x.example/<hook> failed');
    expect(mail.html).toContain('https://x.example/&lt;hook&gt; failed');

    const log: Email[] = await allDelivered(rt, creatorId, 2);
    expect(log[0]).toMatchObject({ id: notice.id, alertId: null, recipient: 'creator', status: 'sent' });
    expect(log[1]!.alertId).toBe(ctx.alert.id);
    expect(await listEmails(rt, creatorId, { limit: 1 })).toHaveLength(1);
  });

  it('keeps each creator’s emails to themselves', async () => {
    const a = await givenAlert(rt, { settings: { emailCustomers: false } });
    const b = await givenAlert(rt, { settings: { emailCustomers: false } });
    await notify(rt, a);
    const [email] = await allDelivered(rt, a.creator.id, 1);
    expect(await emailsOf(rt, b.creator.id)).toEqual([]);
    // Another tenant's id finds nothing to send.
    await sendEmail(rt, b.creator.id, email!.id);
    expect(mailsTo(a.creator.email)).toHaveLength(1);
  });
});
