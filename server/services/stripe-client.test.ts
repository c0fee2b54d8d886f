import { describe, expect, it } from 'vitest';
import { parseEnv } from '../env.js';
import { decryptStripeSecret, encryptStripeSecret } from './stripe-client.js';

describe('Stripe keys at rest', () => {
  const env = parseEnv({ NODE_ENV: 'test', STRIPE_KEYS_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') });
  const key = 'sk_test_51Abcdefghijklmnopqrstuvwxyz';

  it('round-trips through AES-256-GCM with a fresh IV each time, never containing the key', () => {
    const a = encryptStripeSecret(env, key);
    const b = encryptStripeSecret(env, key);
    expect(a).not.toBe(b);
    expect(a).not.toContain('sk_test');
    expect(decryptStripeSecret(env, a)).toBe(key);
  });

  it('refuses a tampered value or another encryption key', () => {
    const stored = encryptStripeSecret(env, key);
    const parts = stored.split('.');
    parts[3] = Buffer.from('x' + Buffer.from(parts[3]!, 'base64url').toString('latin1')).toString('base64url');
    expect(() => decryptStripeSecret(env, parts.join('.'))).toThrow();
    const other = parseEnv({ NODE_ENV: 'test', STRIPE_KEYS_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64') });
    expect(() => decryptStripeSecret(other, stored)).toThrow();
  });

  it('rejects an encryption key that is not 32 bytes', () => {
    expect(() => parseEnv({ STRIPE_KEYS_ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') })).toThrow(/32 bytes/);
  });
});
