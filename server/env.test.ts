import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
      expect(text, `${name} missing from .env.example`).toContain(name);
    }
  });

  it('applies defaults when nothing is set', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ PORT: 3000, DATA_DIR: '.data', RUN_WORKERS: true });
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it('keeps the default data in the project’s .data wherever a command runs from; a DATA_DIR given is taken from where it runs', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
    const cwd = process.cwd();
    process.chdir(path.join(root, 'scripts'));
    try {
      expect(parseEnv({}).dataDir).toBe(path.join(root, '.data'));
      expect(parseEnv({ DATA_DIR: 'elsewhere' }).dataDir).toBe(path.join(root, 'scripts', 'elsewhere'));
    } finally {
      process.chdir(cwd);
    }
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
    const together = { STARYER_BOOTSTRAP_EMAIL: 'a@b.co', STARYER_BOOTSTRAP_PASSWORD: 'a-long-enough-password' };
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

  it('refuses values that would fail later: URLs of the wrong kind, blank ports, endless sessions, short bootstrap passwords', () => {
    const problems = (source: Record<string, string>) => {
      try {
        parseEnv(source);
        return [];
      } catch (error) {
        return (error as EnvError).problems;
      }
    };
    // "host:587" parses as a URL whose scheme is "host:": mail would go nowhere.
    expect(problems({ SMTP_URL: 'smtp.example.com:587' })).toEqual([expect.stringMatching(/^SMTP_URL: must be a smtp:\/\/ or smtps:\/\/ URL/)]);
    expect(problems({ SMTP_URL: 'smtps://u:p@smtp.example.com:465' })).toEqual([]);
    expect(problems({ PUBLIC_URL: 'usage.example.com:443' })).toEqual([expect.stringMatching(/^PUBLIC_URL: must be a http:\/\/ or https:\/\/ URL/)]);
    expect(problems({ STRIPE_API_BASE: 'localhost:12111' })).toEqual([expect.stringMatching(/^STRIPE_API_BASE: must be a http:\/\/ or https:\/\/ URL/)]);
    expect(problems({ STRIPE_API_BASE: 'ftp://127.0.0.1:12111' })).toEqual([expect.stringMatching(/^STRIPE_API_BASE: must be a http:\/\/ or https:\/\/ URL/)]);
    expect(problems({ STRIPE_API_BASE: 'http://127.0.0.1:12111' })).toEqual([]);
    // Sent as "Authorization: Bearer <token>": a secret file's trailing newline is trimmed, a space inside could never be sent.
    expect(parseEnv({ METRICS_TOKEN: 'metrics-token-0123456789abcdef\n' }).METRICS_TOKEN).toBe('metrics-token-0123456789abcdef');
    expect(problems({ METRICS_TOKEN: 'correct horse battery staple' })).toEqual([expect.stringMatching(/^METRICS_TOKEN: must be at least 16 characters, without spaces/)]);
    expect(problems({ METRICS_TOKEN: ' short-token \n' })).toEqual([expect.stringMatching(/^METRICS_TOKEN: must be at least 16 characters/)]);
    expect(problems({ DATABASE_URL: 'mysql://u:p@db/x' })).toEqual([expect.stringMatching(/^DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/)]);
    expect(problems({ DATABASE_URL: 'postgresql://u:p@db:5432/x', APP_DATABASE_URL: 'postgres://a:b@db/x' })).toEqual([]);
    expect(problems({ PORT: ' ' })).toEqual(['PORT: must be a port number (0–65535)']);
    expect(problems({ PORT: '70000' })).toEqual(['PORT: must be a port number (0–65535)']);
    expect(parseEnv({ PORT: ' 8080 ' }).PORT).toBe(8080);
    expect(problems({ SESSION_TTL_HOURS: '10000000000' })).toEqual(['SESSION_TTL_HOURS: must be at most 8784 (a year)']);
    expect([parseEnv({}).TRUST_PROXY, parseEnv({ TRUST_PROXY: 'true' }).TRUST_PROXY, parseEnv({ TRUST_PROXY: '2' }).TRUST_PROXY, parseEnv({ TRUST_PROXY: 'false' }).TRUST_PROXY]).toEqual([0, 1, 2, 0]);
    expect(problems({ TRUST_PROXY: 'yes' })).toEqual(['TRUST_PROXY: must be true, false or a number of proxies (0–99)']);
    expect(problems({ STARYER_BOOTSTRAP_EMAIL: 'a@b.co', STARYER_BOOTSTRAP_PASSWORD: 'short', STARYER_BOOTSTRAP_API_KEY: 'operator-chosen-bootstrap-key-0123456789' })).toEqual([
      'STARYER_BOOTSTRAP_PASSWORD: must be at least 10 characters, as sign-up requires',
    ]);
  });

  it('requires the three bootstrap variables together', () => {
    expect(() => parseEnv({ STARYER_BOOTSTRAP_EMAIL: 'a@b.co' })).toThrow(/must be set together/);
  });
});
