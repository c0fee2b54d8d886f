import { afterAll, describe, expect, it } from 'vitest';
import { startFakeSmtpServer } from './fakes/smtp-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { listEmails } from '../server/services/email.js';
import { useClockedServer } from './harness/server.js';
import { eventually } from './harness/wait.js';

/**
 * Review of limit alerts and their delivery, end to end: events go in over HTTP, the real
 * job workers raise and deliver alerts, and a local SMTP server captures what the creator
 * would get.
 */

const smtp = await startFakeSmtpServer();
afterAll(() => smtp.close());
const { url } = await useTestDatabase();
const START = new Date('2026-11-10T12:00:00.000Z');
const { server } = useClockedServer(url, START, {
  workers: true,
  env: { SMTP_URL: smtp.url, MAIL_FROM: 'Alerts <alerts@staryer.test>', PUBLIC_URL: 'https://usage.example.com' },
});

type Call = ReturnType<typeof api>;

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  return { call: api(server().url, apiKey), creatorId: creator.id, email: creator.email };
}

async function track(call: Call, body: unknown) {
  return call('POST', '/api/usage/track', body);
}

describe('alert email delivery', () => {
  it('an alert email is not lost when the SMTP server is down for ~half an hour (its job retries run out): it goes out once the server is back', async () => {
    const c = await creator();
    const rt = server().rt;
    await createMeter(c.call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 2, soft_limit_threshold: 0.5 }] });
    expect((await c.call('PUT', '/api/usage/customers/smtp_1', { plan_name: 'pro' })).status).toBe(201);
    const rejectedBefore = smtp.rejectedCount;
    smtp.reject(451, 'Service not available, try later');
    let emailId: string;
    try {
      expect((await track(c.call, { event_name: 'calls', user_id: 'smtp_1' })).status).toBe(201);
      emailId = (await eventually(() => listEmails(rt, c.creatorId, { limit: 10 }), (rows) => rows.length === 1, 15_000))[0]!.id;
      // The SMTP outage lasts through what used to be every retry (pg-boss's 8, 10 s doubling: 20–40
      // min in all); the test pulls each attempt due later forward instead of waiting for it.
      await eventually(
        async () => {
          const jobs = await rt.boss.findJobs('email.send', { data: { emailId } });
          for (const job of jobs) if (job.state === 'retry' || job.state === 'created') await rt.boss.update({ name: 'email.send', options: { id: job.id, startAfter: new Date() } });
          return jobs;
        },
        // Nine refusals (the first send and its 8 retries), or no job left to run.
        (jobs) => smtp.rejectedCount - rejectedBefore >= 9 || (jobs.length > 0 && jobs.every((j) => j.state === 'failed' || j.state === 'completed')),
        60_000,
      );
      const [pending] = await listEmails(rt, c.creatorId, { limit: 10 });
      expect(pending).toMatchObject({ status: 'pending', error: expect.stringContaining('451') });
    } finally {
      smtp.accept();
    }
    // The SMTP server is back: the creator gets the alert email (any retry still due is pulled forward).
    const delivered = await eventually(
      async () => {
        for (const job of await rt.boss.findJobs('email.send', { data: { emailId } })) {
          if (job.state === 'retry' || job.state === 'created') await rt.boss.update({ name: 'email.send', options: { id: job.id, startAfter: new Date() } });
        }
        return smtp.messages.filter((m) => m.to.includes(c.email));
      },
      (mails) => mails.length > 0,
      20_000,
    ).catch(() => []);
    // Recorded as sent right after the SMTP server took it.
    const [row] = await eventually(() => listEmails(rt, c.creatorId, { limit: 10 }), (rows) => rows[0]?.status !== 'pending', 10_000).catch(() => listEmails(rt, c.creatorId, { limit: 10 }));
    expect({ received: delivered.length, status: row!.status }).toEqual({ received: 1, status: 'sent' });
  }, 120_000);
});
