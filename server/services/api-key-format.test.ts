import { describe, expect, it } from 'vitest';
import { displayPrefix, generateApiKey, hashSecret, isPlausibleApiKey, KEY_PREFIX } from './api-key-format.js';

describe('API key format', () => {
  it('generates distinct keys with the typed prefix, ≥128 random bits and a valid checksum', () => {
    const keys = new Set(Array.from({ length: 1000 }, generateApiKey));
    expect(keys.size).toBe(1000);
    for (const key of keys) {
      expect(key).toMatch(/^su_live_[0-9A-Za-z]{36}$/);
      expect(isPlausibleApiKey(key)).toBe(true);
    }
    // 30 base62 characters of randomness
    expect(30 * Math.log2(62)).toBeGreaterThan(128);
  });

  it('refuses any single-character typo through the checksum', () => {
    const key = generateApiKey();
    for (let i = KEY_PREFIX.length; i < key.length; i++) {
      const swapped = key.slice(0, i) + (key[i] === 'x' ? 'y' : 'x') + key.slice(i + 1);
      expect(isPlausibleApiKey(swapped), `position ${i}`).toBe(false);
    }
  });

  it('accepts operator-chosen bootstrap keys of 32+ printable characters only', () => {
    expect(isPlausibleApiKey('x'.repeat(32))).toBe(true);
    expect(isPlausibleApiKey('x'.repeat(31))).toBe(false);
    expect(isPlausibleApiKey(`${'x'.repeat(32)} with space`)).toBe(false);
  });

  it('shows a short prefix and stores only a SHA-256 hash', () => {
    const key = generateApiKey();
    expect(displayPrefix(key)).toBe(key.slice(0, 14));
    expect(hashSecret(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(key)).not.toContain(key.slice(8));
  });
});
