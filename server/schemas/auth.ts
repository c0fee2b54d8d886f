import { z } from 'zod';
import { ZMailbox, ZText } from './common.js';

export const ZEmail = ZText(254)
  .trim()
  .pipe(ZMailbox)
  .transform((s) => s.toLowerCase());

export const PASSWORD_MIN = 10;

export const ZNewPassword = ZText(256)
  .min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`)
  .refine((s) => s.trim().length > 0, 'must not be blank');

export const ZSignupInput = z.object({
  email: ZEmail,
  password: ZNewPassword,
  name: ZText(120).trim().min(1, 'is required'),
});
export type TSignupInput = z.infer<typeof ZSignupInput>;

export const ZLoginInput = z.object({
  email: ZEmail,
  password: ZText(256).min(1, 'is required'),
});
export type TLoginInput = z.infer<typeof ZLoginInput>;

export const ZChangePasswordInput = z.object({
  current_password: ZText(256).min(1, 'is required'),
  new_password: ZNewPassword,
});
export type TChangePasswordInput = z.infer<typeof ZChangePasswordInput>;

export const ZSessionsEnded = z.object({ sessions_ended: z.number().int() });

export const ZSessionGrant = z.object({
  creatorId: z.uuid(),
  sessionToken: z.string(),
  expiresAt: z.iso.datetime(),
});
export type TSessionGrant = z.infer<typeof ZSessionGrant>;

export const ZMe = z.object({
  creator_id: z.uuid(),
  email: z.string(),
  name: z.string(),
  auth: z.enum(['session', 'api_key']),
  key: z.object({ prefix: z.string(), scopes: z.array(z.string()) }).nullable(),
});
export type TMe = z.infer<typeof ZMe>;
