import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv, ZEnv } from './env.js';
import { generateApiKey } from './services/api-key-format.js';

function parseDotenv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('environment', () => {
  it('parses .env.example, which documents every variable', () => {
    const text = readFileSync('.env.example', 'utf8');
    const env = parseEnv(parseDotenv(text));
    expect(env.PORT).toBe(3000);
    for (const name of Object.keys(ZEnv.shape)) {
      if (name === 'NODE_ENV') continue;
      expect(text, `${name} missing from .env.example`).toContain(name);
    }
  });

  it('applies defaults when nothing is set', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ PORT: 3000, DATA_DIR: '.data', RUN_WORKERS: true });
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it('lists every bad variable at once', () => {
    try {
      parseEnv({ PORT: 'eighty', DATABASE_URL: 'not a url', STARYER_BOOTSTRAP_API_KEY: 'short', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EnvError);
      const problems = (error as EnvError).problems.join('\n');
      for (const name of ['PORT', 'DATABASE_URL', 'STARYER_BOOTSTRAP_API_KEY', 'LOG_LEVEL']) expect(problems).toContain(name);
    }
  });

  it('refuses a bootstrap API key that could never authenticate, and takes one that can', () => {
    const together = { STARYER_BOOTSTRAP_EMAIL: 'a@b.co', STARYER_BOOTSTRAP_PASSWORD: 'pw' };
    const made = generateApiKey();
    const badChecksum = made.slice(0, -1) + (made.endsWith('x') ? 'y' : 'x');
    // Our prefix without our format (length, alphabet, checksum), and characters a header cannot carry cleanly.
    for (const key of ['su_live_F5GnAuPRahQ1ukKX3-4nSmuK_JRQ_G', badChecksum, 'an operator key with spaces in it, 42 chars']) {
      expect(() => parseEnv({ ...together, STARYER_BOOTSTRAP_API_KEY: key }), key).toThrow(/STARYER_BOOTSTRAP_API_KEY.*staryer-usage key create/);
    }
    for (const key of [generateApiKey(), 'operator-chosen-bootstrap-key-0123456789']) {
      expect(parseEnv({ ...together, STARYER_BOOTSTRAP_API_KEY: key }).STARYER_BOOTSTRAP_API_KEY).toBe(key);
    }
  });

  it('requires the three bootstrap variables together', () => {
    expect(() => parseEnv({ STARYER_BOOTSTRAP_EMAIL: 'a@b.co' })).toThrow(/must be set together/);
  });
});
