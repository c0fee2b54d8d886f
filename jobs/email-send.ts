import { sendEmail } from '../server/services/email.js';
import { defineHandler } from './handler.js';

/** Delivers one email; SMTP failures throw, so pg-boss retries with backoff. */
export const sendEmailHandler = defineHandler('email.send', async (rt, { creatorId, emailId }) => {
  await sendEmail(rt, creatorId, emailId);
});
