import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { isPlausibleApiKey, KEY_PREFIX } from './services/api-key-format.js';

/**
 * The only reader of process.env. Parsed once; a bad value fails start-up with every
 * problem listed, instead of surfacing later as a confusing runtime error.
 */
/** A URL of one of these schemes (z.url() alone takes "host:587" as the scheme "host:"). */
const urlOf = (schemes: string[], example: string) =>
  z.url().refine((value) => URL.canParse(value) && schemes.includes(new URL(value).protocol.slice(0, -1)), `must be a ${schemes.join(':// or ')}:// URL, e.g. ${example}`);

/** A port number; blank or spaces are refused rather than read as 0 (any free port). */
const port = (fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a port number (0–65535)')
    .transform(Number)
    .pipe(z.number().int().max(65535, 'must be a port number (0–65535)'))
    .default(fallback);

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const booleanString = z
  .enum(['true', 'false', '1', '0', ''])
  .transform((value) => value === 'true' || value === '1');

export const ZEnv = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: port(3000),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATABASE_URL: urlOf(['postgres', 'postgresql'], 'postgres://user:password@host:5432/staryer').optional(),
    APP_DATABASE_URL: urlOf(['postgres', 'postgresql'], 'postgres://staryer_login:password@host:5432/staryer').optional(),
    DATA_DIR: z.string().min(1).default('.data'),
    EMBEDDED_PG_PORT: port(0),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Reverse proxies in front of the server whose X-Forwarded-* entries are trusted: false/0 none, true/1 one, or a count. */
    TRUST_PROXY: z
      .string()
      .trim()
      .regex(/^(true|false|\d{1,2})$/, 'must be true, false or a number of proxies (0–99)')
      .transform((value) => (value === 'true' ? 1 : value === 'false' ? 0 : Number(value)))
      .default(0),
    /**
     * Bearer token that /metrics requires; unset → /metrics answers loopback clients only.
     * Trimmed (a secret file's trailing newline); a space inside could never be sent in the header.
     */
    METRICS_TOKEN: z.string().trim().regex(/^\S{16,}$/, 'must be at least 16 characters, without spaces (it is sent as "Authorization: Bearer <token>")').optional(),
    COOKIE_SECURE: z.enum(['auto', 'true', 'false']).default('auto'),
    API_KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
    AUTH_RATE_LIMIT_PER_EMAIL: z.coerce.number().int().min(1).default(10),
    AUTH_RATE_LIMIT_PER_IP: z.coerce.number().int().min(1).default(30),
    AUTH_RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
    SESSION_TTL_HOURS: z.coerce.number().int().min(1).max(24 * 366, 'must be at most 8784 (a year)').default(24 * 14),
    RUN_WORKERS: booleanString.default(true),
    /** smtp://user:pass@host:port (smtps:// for TLS). Unset → alert emails go to the outbox shown in the dashboard. */
    SMTP_URL: urlOf(['smtp', 'smtps'], 'smtp://user:password@smtp.example.com:587').optional(),
    MAIL_FROM: z.string().min(3).default('Staryer Usage <alerts@staryer.localhost>'),
    /**
     * The longest one email's SMTP delivery may take, connecting to the server's last answer:
     * past it the connection is closed and the email retried. Bounded by the email job's
     * 120 s expiry less the claim margin, so that no send can still be under way once its claim lapses.
     */
    SMTP_TIMEOUT_MS: z.coerce.number().int().min(100).max(80_000).default(60_000),
    /** Public base URL of this server, for links in emails (e.g. https://usage.example.com). */
    PUBLIC_URL: urlOf(['http', 'https'], 'https://usage.example.com').optional(),
    /** Allow webhook URLs that resolve to loopback/private/link-local addresses (tests, local development). */
    ALLOW_PRIVATE_WEBHOOK_URLS: booleanString.default(false),
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    /**
     * The longest a track request waits for its events' commit (queue and transaction): past
     * it the request is answered 503 + Retry-After — "nothing recorded" if it had not reached
     * the database, else "may or may not have been recorded" — instead of hanging while the
     * database is silent. Far above a loaded server's slowest batch (p99 ≈ 8 s, BENCHMARKS.md).
     */
    INGEST_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(300_000).default(30_000),
    /** Platform secret key, used with a creator's Connect account id (Stripe-Account header). */
    STRIPE_SECRET_KEY: z.string().regex(/^(sk|rk)_(test|live)_\w+$/, 'must be a Stripe secret or restricted key (sk_… / rk_…)').optional(),
    /** The platform's Connect client id (ca_…, Stripe Dashboard → Connect → Onboarding options → OAuth): creators connect their account through Stripe's authorization. */
    STRIPE_CONNECT_CLIENT_ID: z.string().regex(/^ca_[A-Za-z0-9]+$/, 'must be a Stripe Connect client id (ca_…)').optional(),
    /** Send every Stripe call to this base URL instead of api.stripe.com (stripe-mock, the test fake). */
    STRIPE_API_BASE: urlOf(['http', 'https'], 'http://localhost:12111').optional(),
    /** AES-256-GCM key (32 bytes, base64) encrypting creators' Stripe keys at rest; unset → a fixed development key, with a warning. */
    STRIPE_KEYS_ENCRYPTION_KEY: z
      .string()
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded (openssl rand -base64 32)')
      .optional(),
    /** Timeout of one Stripe call; a timed-out meter event is resent with the same identifier. */
    STRIPE_TIMEOUT_MS: z.coerce.number().int().min(50).max(120_000).default(10_000),
    /**
     * How long Stripe's meter event summaries may lag the events reported to it (Stripe
     * aggregates asynchronously): reconciliation corrects nothing — no compensation, no verdict
     * on an unanswered report — for a customer × meter × period with a report newer than this.
     */
    STRIPE_SUMMARY_LAG_MS: z.coerce.number().int().min(0).max(86_400_000).default(3_600_000),
    STARYER_BOOTSTRAP_EMAIL: z.email().optional(),
    STARYER_BOOTSTRAP_PASSWORD: z.string().min(10, 'must be at least 10 characters, as sign-up requires').optional(),
    STARYER_BOOTSTRAP_API_KEY: z
      .string()
      .min(32, 'must be at least 32 characters')
      // A key that could never authenticate would be created and then refused on every request.
      .refine(
        isPlausibleApiKey,
        `must be a key made by \`staryer-usage key create\` or the dashboard (${KEY_PREFIX} + 36 letters and digits, the last 6 a checksum), or any other string of 32–256 printable ASCII characters without spaces that does not start with ${KEY_PREFIX} and is not shaped like a browser token (three dot-separated base64url parts)`,
      )
      .optional(),
  })
  .superRefine((env, ctx) => {
    const bootstrap = [env.STARYER_BOOTSTRAP_EMAIL, env.STARYER_BOOTSTRAP_PASSWORD, env.STARYER_BOOTSTRAP_API_KEY];
    const set = bootstrap.filter((value) => value !== undefined).length;
    if (set !== 0 && set !== bootstrap.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['STARYER_BOOTSTRAP_EMAIL'],
        message: 'STARYER_BOOTSTRAP_EMAIL, STARYER_BOOTSTRAP_PASSWORD and STARYER_BOOTSTRAP_API_KEY must be set together',
      });
    }
  });

export type TEnv = z.infer<typeof ZEnv> & { dataDir: string };

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'EnvError';
  }
}

export function parseEnv(source: Record<string, string | undefined>): TEnv {
  // Empty strings mean "unset" (a blank line in .env or `FOO= npm start`).
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = ZEnv.safeParse(cleaned);
  if (!result.success) {
    throw new EnvError(result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  // The default is the project's own .data, wherever the command runs from (the CLI from a
  // subdirectory made a new, empty database there); a DATA_DIR given is taken as given.
  const dataDir = cleaned.DATA_DIR === undefined ? path.join(PROJECT_ROOT, result.data.DATA_DIR) : path.resolve(result.data.DATA_DIR);
  return { ...result.data, dataDir };
}

let cached: TEnv | undefined;

export function env(): TEnv {
  cached ??= parseEnv(process.env);
  return cached;
}
