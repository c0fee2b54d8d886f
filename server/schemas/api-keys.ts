import { z } from 'zod';
import { API_KEY_SCOPES } from '../../db/schema.js';
import { ZText } from './common.js';

export { API_KEY_SCOPES };
export const ZApiKeyScope = z.enum(API_KEY_SCOPES);

export const ZCreateApiKeyInput = z
  .object({
  name: ZText(100).trim().min(1, 'is required'),
  scopes: z
    .array(ZApiKeyScope)
    .min(1, 'must name at least one scope')
    .transform((scopes) => [...new Set(scopes)]),
  })
  // A field not known here (an `expires_at` a client expects honoured) is refused, not dropped.
  .strict();
export type TCreateApiKeyInput = z.infer<typeof ZCreateApiKeyInput>;

export const ZApiKey = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(ZApiKeyScope),
  created_at: z.iso.datetime(),
  last_used_at: z.iso.datetime().nullable(),
  revoked_at: z.iso.datetime().nullable(),
});
export type TApiKey = z.infer<typeof ZApiKey>;

export const ZCreatedApiKey = ZApiKey.extend({
  /** The whole key: shown once, never stored. */
  api_key: z.string(),
});
export type TCreatedApiKey = z.infer<typeof ZCreatedApiKey>;

export const ZApiKeyList = z.object({ keys: z.array(ZApiKey) });

export const ZRevokeApiKeyInput = z.object({ id: z.uuid('must be a UUID') });

type ApiKeyDomain = {
  id: string;
  name: string;
  prefix: string;
  scopes: Array<z.infer<typeof ZApiKeyScope>>;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
};

export const toApiKey = (key: ApiKeyDomain): TApiKey => ({
  id: key.id,
  name: key.name,
  prefix: key.prefix,
  scopes: key.scopes,
  created_at: key.createdAt.toISOString(),
  last_used_at: key.lastUsedAt?.toISOString() ?? null,
  revoked_at: key.revokedAt?.toISOString() ?? null,
});
