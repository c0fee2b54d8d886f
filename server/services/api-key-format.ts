import { createHash, randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API keys look like `su_live_` + 30 base62 characters (≈178 random bits) + a 6-character
 * base62 CRC32 checksum, like GitHub's tokens: secret scanners can recognise them, and a
 * mistyped key is refused without a database look-up.
 */
export const KEY_PREFIX = 'su_live_';
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 30;
const CHECKSUM_LENGTH = 6;
const DISPLAY_RANDOM = 6;

function base62(value: number, width: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

const checksum = (body: string) => base62(crc32(body), CHECKSUM_LENGTH);

export function generateApiKey(): string {
  let random = '';
  for (let i = 0; i < RANDOM_LENGTH; i++) random += ALPHABET[randomInt(62)];
  const body = KEY_PREFIX + random;
  return body + checksum(body);
}

/** A bearer shaped like a JWT (three base64url parts): a browser token, never looked up as a key. */
export const looksLikeUserToken = (bearer: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(bearer);

/** Keys in our format must carry a valid checksum; other strings (bootstrap keys chosen
 * by an operator) can only be checked against the database — and must not look like a
 * browser token, which is what a bearer of that shape is taken for (it could never authenticate). */
export function isPlausibleApiKey(key: string): boolean {
  if (key.length < 32 || key.length > 256) return false;
  if (!key.startsWith(KEY_PREFIX)) return /^[\x21-\x7e]+$/.test(key) && !looksLikeUserToken(key);
  if (key.length !== KEY_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH) return false;
  const body = key.slice(0, -CHECKSUM_LENGTH);
  return /^[0-9A-Za-z]+$/.test(key.slice(KEY_PREFIX.length)) && checksum(body) === key.slice(-CHECKSUM_LENGTH);
}

/** The part shown in lists and accepted by `key revoke`. */
export function displayPrefix(key: string): string {
  if (key.startsWith(KEY_PREFIX)) return key.slice(0, KEY_PREFIX.length + DISPLAY_RANDOM);
  // A key of the operator's own (STARYER_BOOTSTRAP_API_KEY): its start, and a few characters of
  // its hash — the start alone is often shared by the key that replaces it ("acme-key-v1",
  // "acme-key-v2"), and prefixes are unique per creator, so the rotation failed at start.
  return `${key.slice(0, 8)}~${hashSecret(key).slice(0, 4)}`;
}

export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');
