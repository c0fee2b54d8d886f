import { findApiKeyBySecretHashForOwner, listApiKeys } from '../../db/queries/api-keys.js';
import { withCreator } from '../../db/tenant.js';
import { findCreatorByEmail } from '../../db/queries/creators.js';
import { AppError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { hashSecret } from './api-key-format.js';
import { createApiKey, revokeApiKey } from './api-keys.js';
import { createCreatorAccount } from './creators.js';

/** The name of the admin key STARYER_BOOTSTRAP_API_KEY creates. */
const BOOTSTRAP_KEY_NAME = 'bootstrap';

/** The bootstrap key is another creator's: a configuration error, reported as such by main.ts and the CLI (exit 78). */
const KEY_TAKEN = 'bootstrap_key_taken';

export const isBootstrapConflict = (error: unknown): error is AppError => error instanceof AppError && error.code === KEY_TAKEN;

/**
 * STARYER_BOOTSTRAP_*: creates that creator and that admin key when they do not exist
 * yet (as Lago's LAGO_CREATE_ORG does). Idempotent, and safe when two processes start
 * at once: a lost race is a row that now exists. A new STARYER_BOOTSTRAP_API_KEY for a creator
 * bootstrapped before rotates it: the earlier bootstrap key stops working (an operator replaces
 * the variable because the old value leaked or left with someone), and the log says so.
 */
export async function bootstrapFromEnv(rt: Runtime): Promise<{ creatorId: string; created: boolean } | null> {
  const { STARYER_BOOTSTRAP_EMAIL: email, STARYER_BOOTSTRAP_PASSWORD: password, STARYER_BOOTSTRAP_API_KEY: apiKey } = rt.env;
  if (!email || !password || !apiKey) return null;
  let created = false;
  let creator = await findCreatorByEmail(rt.ownerDb, email);
  // The key first: a changed email with the same key would otherwise leave a creator behind
  // on every start before being refused.
  const existingKey = await findApiKeyBySecretHashForOwner(rt.ownerDb, hashSecret(apiKey));
  if (existingKey && existingKey.creatorId !== creator?.id) {
    throw new AppError('conflict', {
      code: KEY_TAKEN,
      detail:
        `STARYER_BOOTSTRAP_API_KEY belongs to another creator than STARYER_BOOTSTRAP_EMAIL (${email}), nothing was created: ` +
        'set STARYER_BOOTSTRAP_EMAIL back to the email it was bootstrapped with, or give the new email a new STARYER_BOOTSTRAP_API_KEY.',
    });
  }
  if (!creator) {
    creator = await createCreatorAccount(rt, { email: email.toLowerCase(), name: email.split('@')[0] ?? email, password }).catch(
      async (error: unknown) => {
        const existing = await findCreatorByEmail(rt.ownerDb, email);
        if (existing) return existing;
        throw error;
      },
    );
    created = true;
  }
  if (!existingKey) {
    const earlier = created ? [] : (await withCreator(rt.db, creator.id, (tx) => listApiKeys(tx))).filter((k) => k.name === BOOTSTRAP_KEY_NAME && k.revokedAt === null);
    await createApiKey(rt, creator.id, { name: BOOTSTRAP_KEY_NAME, scopes: ['admin'], secret: apiKey }).catch(async (error: unknown) => {
      if (!(await findApiKeyBySecretHashForOwner(rt.ownerDb, hashSecret(apiKey)))) throw error;
    });
    for (const key of earlier) await revokeApiKey(rt, creator.id, key.id).catch(() => undefined); // revoked meanwhile by another start
    if (earlier.length > 0) {
      rt.log.warn({ creatorId: creator.id, revoked: earlier.map((k) => k.prefix) }, 'STARYER_BOOTSTRAP_API_KEY changed: the new key was created and the earlier bootstrap key revoked');
    }
    created = true;
  }
  if (created) rt.log.info({ creatorId: creator.id }, 'bootstrap creator and api key ensured');
  return { creatorId: creator.id, created };
}
