import { sendEmail } from '../server/services/email.js';
import { defineHandler, DRAIN } from './handler.js';

/** One attempt to deliver an email; an SMTP failure queues the next attempt (our own failures throw: pg-boss retries). */
export const sendEmailHandler = defineHandler('email.send', async (rt, { creatorId, emailId, attempt }) => {
  await sendEmail(rt, creatorId, emailId, attempt ?? 1);
}, DRAIN);
