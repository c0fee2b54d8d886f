import { decodeJwt, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { findApiKeyRevoked } from '../../db/queries/api-keys.js';
import { ensureSettings, findSettings } from '../../db/queries/settings.js';
import { withCreator } from '../../db/tenant.js';
import { forbidden, unauthorized } from '../errors.js';
import type { Runtime } from '../runtime.js';

/**
 * Short-lived browser tokens: an HS256 JWT bound to one creator and one user_id, signed
 * with the creator's own secret (creator_settings.token_secret). The browser SDK sends it
 * instead of an API key; it can only track and check usage for that user.
 */
export type UserToken = { creatorId: string; userId: string; expiresAt: Date };

const AUDIENCE = 'staryer-usage:track';
/** cid: the creator; sub: the user; kid: the API key that minted it (absent: minted with a dashboard session, or before keys were named). */
const ZClaims = z.object({ cid: z.uuid(), sub: z.string().min(1).max(256), kid: z.uuid().optional() });

/**
 * Creator ids a token named that have no secret, for a minute: a stream of tokens with made-up
 * ids (anyone can write one; its signature cannot be checked without a secret) would otherwise
 * cost a database transaction each. Bounded; per runtime.
 */
const UNKNOWN_TTL_MS = 60_000;
const UNKNOWN_MAX = 10_000;
const unknownCreators = new WeakMap<Runtime, Map<string, number>>();

/** Minting creates the secret on first use; verifying only reads it (a forged creator id has none). */
async function secretOf(rt: Runtime, creatorId: string, mode: 'mint' | 'verify'): Promise<Uint8Array | null> {
  let secret = rt.tokenSecrets.get(creatorId);
  if (!secret) {
    let unknown = unknownCreators.get(rt);
    if (!unknown) unknownCreators.set(rt, (unknown = new Map()));
    if (mode === 'verify' && (unknown.get(creatorId) ?? 0) > Date.now()) return null;
    const settings = await withCreator(rt.db, creatorId, (tx) => (mode === 'mint' ? ensureSettings(tx, creatorId) : findSettings(tx, creatorId)));
    if (!settings) {
      if (unknown.size >= UNKNOWN_MAX) unknown.delete(unknown.keys().next().value!);
      unknown.set(creatorId, Date.now() + UNKNOWN_TTL_MS);
      return null;
    }
    unknown.delete(creatorId);
    secret = new TextEncoder().encode(settings.tokenSecret);
    rt.tokenSecrets.set(creatorId, secret);
  }
  return secret;
}

/**
 * A token for one user. Minted with an API key, it names the key (`kid`) and dies with it:
 * revoking a leaked key also stops every browser token it minted, not only after their TTL.
 */
export async function mintUserToken(
  rt: Runtime,
  creatorId: string,
  input: { user_id: string; ttl_seconds: number },
  mintedWith: { keyId: string } | null = null,
): Promise<{ token: string; expiresAt: Date }> {
  const issuedAt = Math.floor(rt.now().getTime() / 1000);
  const expiresAt = new Date((issuedAt + input.ttl_seconds) * 1000);
  const token = await new SignJWT({ cid: creatorId, ...(mintedWith ? { kid: mintedWith.keyId } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(input.user_id)
    .setAudience(AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign((await secretOf(rt, creatorId, 'mint'))!);
  return { token, expiresAt };
}

export { looksLikeUserToken } from './api-key-format.js';

export async function authenticateUserToken(rt: Runtime, token: string): Promise<UserToken> {
  let claims;
  try {
    claims = ZClaims.parse(decodeJwt(token));
  } catch {
    throw unauthorized('The token is not valid.');
  }
  const secret = await secretOf(rt, claims.cid, 'verify');
  if (!secret) throw unauthorized('The token is not valid.');
  let verified: UserToken;
  try {
    const { payload } = await jwtVerify(token, secret, {
      audience: AUDIENCE,
      algorithms: ['HS256'],
      currentDate: rt.now(),
    });
    verified = { creatorId: claims.cid, userId: claims.sub, expiresAt: new Date((payload.exp ?? 0) * 1000) };
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_JWT_EXPIRED') throw unauthorized('The token has expired; ask your backend for a new one.');
    throw unauthorized('The token is not valid.');
  }
  if (claims.kid !== undefined && (await keyRevoked(rt, claims.cid, claims.kid))) {
    throw unauthorized('The API key that minted this token was revoked; ask your backend for a new token.');
  }
  return verified;
}

/** Whether the key that minted a token is revoked (or gone): cached as key look-ups are, evicted on every revocation. */
async function keyRevoked(rt: Runtime, creatorId: string, keyId: string): Promise<boolean> {
  const cached = rt.apiKeys.getRevoked(keyId);
  if (cached !== undefined) return cached;
  const mark = rt.apiKeys.readMark();
  const revoked = (await withCreator(rt.db, creatorId, (tx) => findApiKeyRevoked(tx, keyId))) ?? true;
  rt.apiKeys.setRevoked(keyId, revoked, mark);
  return revoked;
}

/** A browser token may act only for the user it was minted for. */
export function requireTokenUser(token: UserToken, userId: string): void {
  if (token.userId !== userId) throw forbidden('This token may only track and check usage for its own user_id.');
}
