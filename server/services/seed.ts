import { randomBytes } from 'node:crypto';
import { findCreatorByEmail, isSeededCreator } from '../../db/queries/creators.js';
import { listMeters as listMeterRows, type Meter } from '../../db/queries/meters.js';
import {
  analyzeEvents,
  copyEvents,
  deleteCreatorEverywhere,
  ensureSeedPartitions,
  insertSeedAlerts,
  insertSeedCustomers,
  isOwnerSuperuser,
  listPeriodCounters,
  listSeedCustomers,
  listUniqueValues,
  rebuildPeriodCounters,
  rebuildRollupRange,
  rebuildUniqueValues,
  type SeedAlertRow,
  type SeedCustomer,
  type SeedCustomerRow,
  type SeedPeriod,
  vacuumSeededTables,
} from '../../db/queries/seed.js';
import type { AggregationType, AlertKind } from '../../db/schema.js';
import { withCreator } from '../../db/tenant.js';
import { conflict, validationError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TCreateMeterInput } from '../schemas/meters.js';
import { aggregationOf, canonicalJson } from './aggregation/index.js';
import { createApiKey } from './api-keys.js';
import { createCreatorAccount } from './creators.js';
import { D, toWireRounded } from './decimal.js';
import { createMeter } from './meters.js';
import { periodAt } from './periods.js';
import { ROLLUP_RULES } from './rollups.js';
import { BOSS_SCHEMA } from '../../jobs/boss.js';
import { updateSettings } from './settings.js';

/**
 * `staryer-usage seed`: a demo creator with meters of every aggregation type, plans with
 * limits, thousands of customers with Zipf-skewed usage, and millions of raw events —
 * loaded by COPY — plus every table ingest would have derived from them (period
 * counters, distinct values, hour/day and dimension rollups, threshold alerts). The
 * events are generated in time order and judged as ingest would judge them: each
 * carries its customer's period, unique meters flag the values new in their period, hard
 * caps refuse what would pass the limit (the generator draws another event instead), and
 * every threshold crossing becomes an alert at the event that crossed it.
 */

export const SEED_PLANS = ['free', 'starter', 'pro', 'enterprise'] as const;
type PlanIndex = 0 | 1 | 2 | 3;

export type SeedOptions = {
  email: string;
  password?: string;
  name?: string;
  events: number;
  customers: number;
  meters: number;
  days: number;
  seed?: number;
  append?: boolean;
  reset?: boolean;
  /** The moment the generated history ends (default: now). */
  until?: Date;
};

export type SeedPhase = 'events' | 'counters' | 'rollups' | 'analyze';
export type SeedProgress = (phase: SeedPhase, done: number, total: number) => void;

export type SeedResult = {
  creatorId: string;
  email: string;
  /** Set when this run created the creator. */
  password: string | null;
  apiKey: string | null;
  appended: boolean;
  events: number;
  customers: number;
  meters: number;
  from: string;
  to: string;
  refusedByHardCap: number;
  alerts: number;
  periodCounters: number;
  uniqueValues: number;
  rollups: { hourRows: number; dayRows: number; dimensionRows: number; meterRows: number };
  heaviestUserId: string;
  seconds: { setup: number; generate: number; events: number; counters: number; rollups: number; analyze: number; total: number };
  eventsPerSecond: number;
};

export const SEED_LIMITS = { events: 200_000_000, customers: 200_000, meters: 100, days: 730 } as const;

export function validateSeedOptions(options: SeedOptions): void {
  const errors: Array<{ field: string; message: string }> = [];
  const whole = (field: keyof typeof SEED_LIMITS, min: number) => {
    const value = options[field];
    if (!Number.isInteger(value) || value < min || value > SEED_LIMITS[field]) {
      errors.push({ field, message: `must be a whole number from ${min} to ${SEED_LIMITS[field].toLocaleString('en-US')}` });
    }
  };
  whole('events', 1);
  whole('customers', 1);
  whole('meters', 1);
  whole('days', 1);
  if (options.append && options.reset) errors.push({ field: 'append', message: 'cannot be combined with --reset' });
  if (options.seed !== undefined && !Number.isInteger(options.seed)) errors.push({ field: 'seed', message: 'must be a whole number' });
  if (errors.length > 0) throw validationError(errors, errors.map((e) => `--${e.field} ${e.message}`).join('; '));
}

// ---------------------------------------------------------------------------------------
// Deterministic randomness

/** sfc32: small, fast, 128-bit state; good enough for demo data and reproducible by seed. */
function createRng(seed: number) {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b);
  let c = 0xb7e15162 ^ Math.imul(seed, 0xc2b2ae35);
  let d = 0x12345678 ^ seed;
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 20; i++) next();
  const float = () => next() / 4294967296;
  return {
    u32: next,
    float,
    int: (min: number, max: number) => min + Math.floor(float() * (max - min + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(float() * xs.length)]!,
    /** Geometric number of trials ≥ 1 with this mean. */
    geometric: (mean: number) => (mean <= 1 ? 1 : 1 + Math.floor(Math.log(1 - float()) / Math.log(1 - 1 / mean))),
  };
}
type Rng = ReturnType<typeof createRng>;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex2 = (w: number, shift: number) => HEX[(w >>> shift) & 0xff]!;

/** A random (version 4) UUID from the seeded generator, so a seeded run is reproducible. */
function uuidFrom(rng: Rng): string {
  const w0 = rng.u32();
  const w1 = rng.u32();
  const w2 = rng.u32();
  const w3 = rng.u32();
  return `${hex2(w0, 24)}${hex2(w0, 16)}${hex2(w0, 8)}${hex2(w0, 0)}-${hex2(w1, 24)}${hex2(w1, 16)}-4${hex2(w1, 8).slice(1)}${hex2(w1, 0)}-${HEX[0x80 | ((w2 >>> 24) & 0x3f)]!}${hex2(w2, 16)}-${hex2(w2, 8)}${hex2(w2, 0)}${hex2(w3, 24)}${hex2(w3, 16)}${hex2(w3, 8)}${hex2(w3, 0)}`;
}

/**
 * A time-ordered (version 7) UUID for an event at `ms`: events are loaded in time order, so
 * their primary-key entries are appended at the end of the index instead of scattered
 * over it (a random key made COPY several times slower past the buffer cache).
 */
function uuidV7(rng: Rng, ms: number): string {
  const hi = Math.floor(ms / 0x10000);
  const lo = ms % 0x10000;
  const w1 = rng.u32();
  const w2 = rng.u32();
  const w3 = rng.u32();
  return `${hex2(hi, 24)}${hex2(hi, 16)}${hex2(hi, 8)}${hex2(hi, 0)}-${hex2(lo, 8)}${hex2(lo, 0)}-7${hex2(w1, 8).slice(1)}${hex2(w1, 0)}-${HEX[0x80 | ((w2 >>> 24) & 0x3f)]!}${hex2(w2, 16)}-${hex2(w2, 8)}${hex2(w2, 0)}${hex2(w3, 24)}${hex2(w3, 16)}${hex2(w3, 8)}${hex2(w3, 0)}`;
}

// ---------------------------------------------------------------------------------------
// The demo catalogue

type PerPlan<T> = readonly [T, T, T, T];

type MeterTemplate = {
  eventName: string;
  displayName: string;
  description: string;
  aggregationType: AggregationType;
  unitName: string;
  uniqueProperty?: string;
  rollupDimensions?: string[];
  alertThresholds?: string[];
  /** Share of all events, relative to the other meters a customer uses. */
  weight: number;
  /** Fraction of customers using the meter. */
  adoption: number;
  /** Mean number of consecutive events of one burst (a request fan-out, a sync…). */
  burst: number;
  /** Values are whole multiples of 1/scale. */
  scale: 1 | 1000;
  /** A value in 1/scale units; `plan` lets max and unique meters grow with the plan. */
  value: (rng: Rng, plan: PlanIndex) => number;
  /** Mean of value()/scale, to size limits. */
  meanValue: number;
  /** Properties as JSON text; `key` is the burst's distinct value for unique meters. */
  properties: (rng: Rng, key: number) => string;
  /** Unique meters: how many distinct values a customer of each plan draws from. */
  pool?: PerPlan<number>;
  /** Fixed limits (meter unit; null = unlimited), else sized from expected usage. */
  limits?: PerPlan<number | null>;
  /** Overage price per unit on starter (pro and enterprise pay less). */
  price: string;
};

const ENDPOINTS = ['/v1/items', '/v1/items/:id', '/v1/search', '/v1/users/:id', '/v1/orders', '/v1/orders/:id', '/v1/reports', '/v1/auth/token'] as const;
const ENDPOINT_WEIGHTS = [30, 25, 15, 10, 8, 6, 4, 2];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'] as const;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-haiku', 'claude-sonnet', 'llama-3-70b'] as const;
const REGIONS = ['eu-west', 'us-east', 'us-west', 'ap-south'] as const;
const FORMATS = ['png', 'jpeg', 'webp', 'avif'] as const;

function weightedIndex(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let x = rng.float() * total;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i]!;
    if (x < 0) return i;
  }
  return weights.length - 1;
}

const one = () => 1;
const noProps = () => '{}';
const milli = (min: number, max: number) => (rng: Rng) => rng.int(min * 1000, max * 1000);

/** Twenty meters; the first five cover the five aggregation types, so a small seed still shows each. */
const CATALOGUE: MeterTemplate[] = [
  {
    eventName: 'api_calls', displayName: 'API calls', description: 'Requests to the public API', aggregationType: 'count', unitName: 'calls',
    rollupDimensions: ['endpoint', 'method'], alertThresholds: ['0.5', '0.9'], weight: 35, adoption: 1, burst: 12, scale: 1, value: one, meanValue: 1,
    properties: (rng) => {
      const endpoint = ENDPOINTS[weightedIndex(rng, ENDPOINT_WEIGHTS)]!;
      const status = rng.float() < 0.94 ? 200 : rng.pick([400, 401, 404, 429, 500]);
      return `{"endpoint":"${endpoint}","method":"${rng.pick(METHODS)}","status":${status}}`;
    },
    price: '0.0005',
  },
  {
    eventName: 'storage_gb', displayName: 'Storage', description: 'Gigabytes written to object storage', aggregationType: 'sum', unitName: 'GB',
    weight: 5, adoption: 0.9, burst: 2, scale: 1000, value: milli(0.001, 2), meanValue: 1,
    properties: (rng) => `{"region":"${rng.pick(REGIONS)}"}`, price: '0.10',
  },
  {
    eventName: 'seats', displayName: 'Concurrent seats', description: 'Seats in use at once (peak of the period)', aggregationType: 'max', unitName: 'seats',
    weight: 2, adoption: 1, burst: 1, scale: 1, value: (rng, plan) => rng.int(1, [4, 12, 60, 300][plan]!), meanValue: 1,
    properties: noProps, limits: [3, 10, 50, null], price: '8',
  },
  {
    eventName: 'active_projects', displayName: 'Active projects', description: 'Distinct projects with activity in the period', aggregationType: 'unique', unitName: 'projects',
    uniqueProperty: 'project_id', weight: 6, adoption: 0.8, burst: 4, scale: 1, value: one, meanValue: 1,
    properties: (_rng, key) => `{"project_id":"proj_${key}"}`, pool: [5, 25, 120, 500], limits: [3, 20, 100, null], price: '2',
  },
  {
    eventName: 'build_minutes', displayName: 'Build minutes', description: 'CI build time', aggregationType: 'duration', unitName: 'minutes',
    weight: 4, adoption: 0.5, burst: 1, scale: 1, value: (rng) => rng.int(30, 1800), meanValue: 915,
    properties: (rng) => `{"pipeline":"${rng.pick(['ci', 'release', 'nightly'])}"}`, price: '0.008',
  },
  {
    eventName: 'ai_tokens', displayName: 'AI tokens', description: 'Model tokens consumed', aggregationType: 'sum', unitName: 'tokens',
    rollupDimensions: ['model'], alertThresholds: ['0.5'], weight: 12, adoption: 0.6, burst: 5, scale: 1, value: (rng) => rng.int(50, 4000), meanValue: 2025,
    properties: (rng) => `{"model":"${rng.pick(MODELS)}"}`, price: '0.00002',
  },
  { eventName: 'emails_sent', displayName: 'Emails sent', description: 'Transactional emails', aggregationType: 'count', unitName: 'emails', weight: 8, adoption: 0.7, burst: 6, scale: 1, value: one, meanValue: 1, properties: noProps, price: '0.001' },
  { eventName: 'sms_sent', displayName: 'SMS sent', description: 'Text messages', aggregationType: 'count', unitName: 'messages', weight: 2, adoption: 0.3, burst: 2, scale: 1, value: one, meanValue: 1, properties: (rng) => `{"country":"${rng.pick(['GB', 'US', 'DE', 'FR', 'IN'])}"}`, price: '0.04' },
  { eventName: 'webhook_deliveries', displayName: 'Webhook deliveries', description: 'Outbound webhook calls', aggregationType: 'count', unitName: 'deliveries', weight: 8, adoption: 0.5, burst: 8, scale: 1, value: one, meanValue: 1, properties: noProps, price: '0.0002' },
  { eventName: 'bandwidth_gb', displayName: 'Bandwidth', description: 'Egress', aggregationType: 'sum', unitName: 'GB', weight: 3, adoption: 0.8, burst: 3, scale: 1000, value: milli(0.001, 0.5), meanValue: 0.25, properties: (rng) => `{"region":"${rng.pick(REGIONS)}"}`, price: '0.05' },
  {
    eventName: 'image_renders', displayName: 'Image renders', description: 'Images rendered or resized', aggregationType: 'count', unitName: 'renders',
    rollupDimensions: ['format'], weight: 3, adoption: 0.4, burst: 10, scale: 1, value: one, meanValue: 1, properties: (rng) => `{"format":"${rng.pick(FORMATS)}"}`, price: '0.002',
  },
  { eventName: 'search_queries', displayName: 'Search queries', description: 'Full-text searches', aggregationType: 'count', unitName: 'queries', weight: 5, adoption: 0.5, burst: 5, scale: 1, value: one, meanValue: 1, properties: noProps, price: '0.0004' },
  { eventName: 'ai_credits', displayName: 'AI credits', description: 'Prepaid credits spent', aggregationType: 'sum', unitName: 'credits', weight: 2, adoption: 0.3, burst: 2, scale: 1000, value: milli(0.01, 5), meanValue: 2.5, properties: noProps, price: '0.01' },
  { eventName: 'concurrent_jobs', displayName: 'Concurrent jobs', description: 'Background jobs running at once (peak)', aggregationType: 'max', unitName: 'jobs', weight: 1, adoption: 0.4, burst: 1, scale: 1, value: (rng, plan) => rng.int(1, [2, 8, 32, 128][plan]!), meanValue: 1, properties: noProps, limits: [2, 5, 25, null], price: '5' },
  {
    eventName: 'unique_visitors', displayName: 'Unique visitors', description: 'Distinct visitors tracked', aggregationType: 'unique', unitName: 'visitors',
    uniqueProperty: 'visitor_id', weight: 4, adoption: 0.4, burst: 3, scale: 1, value: one, meanValue: 1, properties: (_rng, key) => `{"visitor_id":"v_${key}"}`, pool: [60, 400, 2000, 8000], limits: [50, 300, 1500, null], price: '0.01',
  },
  { eventName: 'transcode_minutes', displayName: 'Transcoding', description: 'Video transcoded', aggregationType: 'duration', unitName: 'minutes', weight: 1, adoption: 0.2, burst: 1, scale: 1, value: (rng) => rng.int(10, 600), meanValue: 305, properties: noProps, price: '0.015' },
  { eventName: 'stream_hours', displayName: 'Streaming hours', description: 'Live stream time', aggregationType: 'duration', unitName: 'hours', weight: 1, adoption: 0.15, burst: 1, scale: 1, value: (rng) => rng.int(60, 7200), meanValue: 3630, properties: noProps, price: '0.5' },
  { eventName: 'exports', displayName: 'Exports', description: 'CSV and PDF exports', aggregationType: 'count', unitName: 'exports', weight: 1, adoption: 0.5, burst: 1, scale: 1, value: one, meanValue: 1, properties: (rng) => `{"format":"${rng.pick(['csv', 'pdf'])}"}`, price: '0.05' },
  { eventName: 'db_rows_written', displayName: 'Rows written', description: 'Database rows written', aggregationType: 'sum', unitName: 'rows', weight: 3, adoption: 0.6, burst: 4, scale: 1, value: (rng) => rng.int(1, 5000), meanValue: 2500, properties: noProps, price: '0.000001' },
  { eventName: 'support_tickets', displayName: 'Support tickets', description: 'Tickets opened', aggregationType: 'count', unitName: 'tickets', weight: 0.5, adoption: 0.3, burst: 1, scale: 1, value: one, meanValue: 1, properties: noProps, price: '1' },
];

function templateFor(index: number): MeterTemplate {
  const base = CATALOGUE[index % CATALOGUE.length]!;
  if (index < CATALOGUE.length) return base;
  const n = Math.floor(index / CATALOGUE.length) + 1;
  return { ...base, eventName: `${base.eventName}_${n}`, displayName: `${base.displayName} ${n}` };
}

/** Templates for meters found in the database (append): by event name, else by aggregation type. */
function templateOfMeter(meter: Meter): MeterTemplate {
  const known = CATALOGUE.find((t) => t.eventName === meter.eventName.replace(/_\d+$/, '')) ?? CATALOGUE.find((t) => t.eventName === meter.eventName);
  if (known && known.aggregationType === meter.aggregationType && (known.uniqueProperty ?? null) === meter.uniqueProperty) return known;
  const generic = CATALOGUE.find((t) => t.aggregationType === meter.aggregationType)!;
  if (meter.aggregationType === 'unique') {
    const property = meter.uniqueProperty;
    return { ...generic, uniqueProperty: property ?? undefined, properties: property ? (_rng, key) => `{${JSON.stringify(property)}:"k_${key}"}` : noProps };
  }
  return generic;
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Linus', 'Radia', 'Ken', 'Frances', 'Dennis', 'Hedy', 'Tim', 'Katherine', 'John'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Torvalds', 'Perlman', 'Thompson', 'Allen', 'Ritchie', 'Lamarr', 'Berners-Lee', 'Johnson', 'Backus'];
const COMPANY = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne', 'Wonka', 'Tyrell', 'Cyberdyne', 'Soylent', 'Vandelay'];

/** 1–2–2.5–5 steps, nearest in ratio: limits a pricing page would show. */
function niceNumber(x: number): number {
  if (!(x > 0)) return 1;
  const exp = Math.floor(Math.log10(x));
  const base = 10 ** exp;
  let best = base;
  for (const step of [1, 2, 2.5, 5, 10]) if (Math.abs(Math.log(x / (step * base))) < Math.abs(Math.log(x / best))) best = step * base;
  return best >= 1 ? Math.round(best) : Number(best.toPrecision(2));
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------

type SeedMeter = { meter: Meter; template: MeterTemplate; counterScale: number; toBase: number };
type LimitInfo = { limit: string; base: number; hardCap: boolean; thresholds: Array<{ kind: AlertKind; threshold: string; at: number }> };

/** Plan of a rank: heavy customers tend to pay more, with some on smaller plans (they go over). */
function planForRank(rng: Rng, rank: number, customers: number): PlanIndex {
  const q = rank / customers;
  let plan: PlanIndex = q < 0.01 ? 3 : q < 0.1 ? 2 : q < 0.4 ? 1 : 0;
  if (plan > 0 && rng.float() < 0.12) plan = (plan - 1) as PlanIndex;
  return plan;
}

const planIndexOf = (name: string | null): PlanIndex => {
  const i = (SEED_PLANS as readonly string[]).indexOf(name ?? '');
  return (i < 0 ? 0 : i) as PlanIndex;
};

export async function seedDemo(rt: Runtime, options: SeedOptions, onProgress: SeedProgress = () => undefined): Promise<SeedResult> {
  validateSeedOptions(options);
  const started = performance.now();
  const secs = { setup: 0, generate: 0, events: 0, counters: 0, rollups: 0, analyze: 0, total: 0 };
  const until = options.until ?? rt.now();
  const to = new Date(Math.floor(until.getTime() / 1000) * 1000);
  const from = new Date(to.getTime() - options.days * DAY_MS);

  // Asked before anything is written: found only at the COPY, a creator, its key, meters and
  // customers were left behind, and a second try was told the creator already exists.
  if (!(await isOwnerSuperuser(rt.ownerDb))) {
    throw conflict(
      'seed_needs_superuser',
      'seed writes its history with COPY, which Postgres refuses into tables under row-level security unless the login is a superuser: run it with a DATABASE_URL whose user is a superuser (the embedded Postgres\'s is). Nothing was written.',
    );
  }
  let existing = await findCreatorByEmail(rt.ownerDb, options.email);
  // --reset deletes an account and --append mixes demo events into its customers' billable
  // usage: only for a creator seed made, never a real one named by mistake.
  if (existing && (options.reset || options.append) && !(await isSeededCreator(rt.ownerDb, existing.id))) {
    throw conflict(
      'seed_creator_not_demo',
      `${options.email} is a creator seed did not make (it has no API key named "seed"): --${options.reset ? 'reset would delete its account and all its data' : 'append would add demo events to its real customers’ usage'}. Nothing was changed; name a demo creator with --email.`,
      'email',
    );
  }
  if (existing && options.reset) {
    await deleteCreatorEverywhere(rt.ownerDb, existing.id);
    existing = null;
  }
  if (existing && !options.append) {
    throw conflict(
      'seed_creator_exists',
      `A creator with email ${options.email} already exists. Pass --append to add events to it, --reset to delete it and seed again, or --email for another creator.`,
      'email',
    );
  }
  const seed = options.seed ?? randomBytes(4).readUInt32LE(0);

  let creatorId: string;
  let password: string | null = null;
  let apiKey: string | null = null;
  let meters: SeedMeter[];
  let customers: SeedCustomer[];
  const appended = Boolean(existing);
  // Setup happens "before" the history, so plan limits apply to all of it.
  const setupRt: Runtime = { ...rt, now: () => new Date(from.getTime() - DAY_MS) };

  if (existing) {
    creatorId = existing.id;
    const meterRows = await withCreator(rt.db, creatorId, (tx) => listMeterRows(tx, { includeArchived: false }));
    meters = meterRows.map(toSeedMeter);
    customers = await withCreator(rt.db, creatorId, (tx) => listSeedCustomers(tx, creatorId));
    if (meters.length === 0 || customers.length === 0) throw conflict('seed_creator_empty', `${options.email} has no meters or customers to append events to; use --reset.`, 'email');
  } else {
    password = options.password ?? `demo-${randomBytes(9).toString('base64url')}`;
    const created = await createCreatorAccount(setupRt, { email: options.email, name: options.name ?? 'Demo SaaS', password });
    creatorId = created.id;
    apiKey = (await createApiKey(rt, creatorId, { name: 'seed', scopes: ['admin'] })).secret;
    await updateSettings(rt, creatorId, { default_plan: 'free' });
    const setupRng = createRng(seed ^ 0x5eed);
    const plans = Array.from({ length: options.customers }, (_, rank) => planForRank(setupRng, rank, options.customers));
    const share = zipfShares(options.customers);
    meters = [];
    for (let i = 0; i < options.meters; i++) {
      const template = templateFor(i);
      const meter = await createMeter(setupRt, creatorId, meterInput(template, sizeLimits(template, i, options, plans, share)));
      meters.push(toSeedMeter(meter));
    }
    const rows: SeedCustomerRow[] = plans.map((plan, rank) => {
      const first = setupRng.pick(FIRST);
      const last = setupRng.pick(LAST);
      const n = rank + 1;
      const anchored = setupRng.float() < 0.3;
      return {
        customerId: uuidFrom(setupRng),
        userId: `user_${String(n).padStart(Math.max(5, String(options.customers).length), '0')}`,
        planName: SEED_PLANS[plan],
        email: `${first}.${last}.${n}@example.com`.toLowerCase(),
        name: `${first} ${last}`,
        billingAnchor: anchored ? new Date(from.getTime() - setupRng.int(0, 30 * 24) * HOUR_MS - setupRng.int(0, 3599) * 1000) : null,
        tenantId: setupRng.float() < 0.3 ? `org_${setupRng.pick(COMPANY).toLowerCase()}_${setupRng.int(1, Math.max(1, Math.floor(options.customers / 20)))}` : null,
        createdAt: new Date(from.getTime() - DAY_MS - setupRng.int(0, 365) * DAY_MS),
      };
    });
    await withCreator(rt.db, creatorId, (tx) => insertSeedCustomers(tx, creatorId, rows));
    customers = rows.map((r) => ({ customerId: r.customerId, userId: r.userId, planName: r.planName, billingAnchor: r.billingAnchor }));
  }
  await ensureSeedPartitions(rt.ownerDb, new Date(from.getTime() - 62 * DAY_MS), new Date(to.getTime() + 31 * DAY_MS));
  secs.setup = (performance.now() - started) / 1000;

  // ---- events -----------------------------------------------------------------------
  const t0 = performance.now();
  const generator = new EventGenerator({
    rng: createRng(appended ? seed ^ 0xa99e4d : seed),
    creatorId,
    meters,
    customers,
    from,
    to,
    events: options.events,
  });
  if (appended) await generator.loadExisting(rt, creatorId);
  await copyEvents(rt.ownerDb, creatorId, generator.rows((done) => onProgress('events', done, options.events)));
  await analyzeEvents(rt.ownerDb);
  secs.events = (performance.now() - t0) / 1000;

  // ---- period counters, distinct values, alerts ----------------------------------------
  const t1 = performance.now();
  onProgress('counters', 0, 3);
  const tuning = { workMem: '256MB' };
  const periodCounters = await rebuildPeriodCounters(rt.ownerDb, creatorId, generator.periods(), to, tuning);
  onProgress('counters', 1, 3);
  const uniqueValues = await rebuildUniqueValues(rt.ownerDb, creatorId, generator.earliestPeriodStart(), tuning);
  onProgress('counters', 2, 3);
  const alerts = await insertSeedAlerts(rt.ownerDb, creatorId, generator.alerts(to));
  onProgress('counters', 3, 3);
  secs.counters = (performance.now() - t1) / 1000;

  // ---- hour / day / dimension rollups, a week of whole UTC days at a time --------------
  const t2 = performance.now();
  const rollups = { hourRows: 0, dayRows: 0, dimensionRows: 0, meterRows: 0 };
  const firstDay = Math.floor(from.getTime() / DAY_MS) * DAY_MS;
  const lastDay = Math.ceil((to.getTime() + 1) / DAY_MS) * DAY_MS;
  const chunks = Math.ceil((lastDay - firstDay) / (7 * DAY_MS));
  const rules = {
    dimensionNone: ROLLUP_RULES.dimensionNone,
    dimensionMaxLength: ROLLUP_RULES.dimensionMaxLength,
    pending: { schema: BOSS_SCHEMA, queue: 'rollups.apply' },
    // Minute rollups feed the live overview, which keeps two days of them: the minutes that start
    // at or after now − 2 days, as the jobs' pruning keeps them (a minute starting just before
    // would be written here and deleted by the next job or rebuild).
    minutesFrom: new Date(Math.ceil((until.getTime() - 2 * DAY_MS) / 60_000) * 60_000),
  };
  onProgress('rollups', 0, chunks);
  for (let i = 0; i < chunks; i++) {
    const chunkFrom = new Date(firstDay + i * 7 * DAY_MS);
    const chunkTo = new Date(Math.min(lastDay, firstDay + (i + 1) * 7 * DAY_MS));
    const counts = await rebuildRollupRange(rt.ownerDb, creatorId, chunkFrom, chunkTo, to, rules, { workMem: '512MB' });
    rollups.hourRows += counts.hourRows;
    rollups.dayRows += counts.dayRows;
    rollups.dimensionRows += counts.dimensionRows;
    rollups.meterRows += counts.meterRows;
    onProgress('rollups', i + 1, chunks);
  }
  secs.rollups = (performance.now() - t2) / 1000;

  const t3 = performance.now();
  onProgress('analyze', 0, 1);
  await vacuumSeededTables(rt.ownerDb);
  onProgress('analyze', 1, 1);
  secs.analyze = (performance.now() - t3) / 1000;
  secs.total = (performance.now() - started) / 1000;
  const round = (x: number) => Math.round(x * 10) / 10;

  return {
    creatorId,
    email: options.email,
    password,
    apiKey,
    appended,
    events: options.events,
    customers: customers.length,
    meters: meters.length,
    from: from.toISOString(),
    to: to.toISOString(),
    refusedByHardCap: generator.refused,
    alerts,
    periodCounters,
    uniqueValues,
    rollups,
    heaviestUserId: customers[0]!.userId,
    seconds: { setup: round(secs.setup), generate: round(generator.generateMs / 1000), events: round(secs.events), counters: round(secs.counters), rollups: round(secs.rollups), analyze: round(secs.analyze), total: round(secs.total) },
    eventsPerSecond: Math.round(options.events / secs.total),
  };
}

function toSeedMeter(meter: Meter): SeedMeter {
  const template = templateOfMeter(meter);
  const aggregation = aggregationOf(meter.aggregationType);
  const counterScale = meter.aggregationType === 'count' || meter.aggregationType === 'unique' ? 1 : template.scale;
  return { meter, template, counterScale, toBase: aggregation.toBase(new D(1), meter.unitName).toNumber() };
}

/** Zipf (s = 1) share of each rank. */
function zipfShares(n: number): Float64Array {
  const share = new Float64Array(n);
  let h = 0;
  for (let r = 1; r <= n; r++) h += 1 / r;
  for (let r = 1; r <= n; r++) share[r - 1] = 1 / r / h;
  return share;
}

/** Plan limits of one meter, sized so a fair part of each plan's customers come near or over them. */
function sizeLimits(template: MeterTemplate, index: number, options: SeedOptions, plans: PlanIndex[], share: Float64Array): Array<number | null> {
  if (template.limits) return [...template.limits];
  const totalWeight = CATALOGUE.slice(0, Math.min(options.meters, CATALOGUE.length)).reduce((a, t) => a + t.weight * t.adoption, 0) || 1;
  const perPeriod = Math.min(1, 30.4 / options.days);
  const expected: number[][] = [[], [], [], []];
  plans.forEach((plan, rank) => {
    const events = options.events * share[rank]! * ((template.weight * (index < CATALOGUE.length ? 1 : 0.5)) / totalWeight) * perPeriod;
    expected[plan]!.push(events * template.meanValue);
  });
  const unitFactor = aggregationOf(template.aggregationType).toBase(new D(1), template.unitName).toNumber();
  const q = [0.6, 0.7, 0.85, 0.97];
  return [0, 1, 2, 3].map((p) => {
    if (p === 3 && !template.alertThresholds) return null;
    const pool = expected[p]!.length > 0 ? expected[p]! : expected.flat();
    return niceNumber(quantile(pool, q[p]!) / unitFactor);
  });
}

function meterInput(template: MeterTemplate, limits: Array<number | null>): TCreateMeterInput {
  const discount = ['0', '1', '0.8', '0.6'];
  return {
    event_name: template.eventName,
    display_name: template.displayName,
    description: template.description,
    aggregation_type: template.aggregationType,
    unit_name: template.unitName,
    billing_model: template.aggregationType === 'max' ? 'licensed' : 'metered',
    unique_property: template.uniqueProperty ?? null,
    alert_thresholds: template.alertThresholds ?? [],
    rollup_dimensions: template.rollupDimensions ?? [],
    plan_limits: SEED_PLANS.map((plan, p) => ({
      plan_name: plan,
      limit_value: limits[p] === null || limits[p] === undefined ? null : String(limits[p]),
      overage_price: p === 0 || limits[p] === null ? null : new D(template.price).times(discount[p]!).toFixed(),
      soft_limit_threshold: limits[p] === null ? null : p >= 2 ? '0.9' : '0.8',
      hard_cap: p === 0,
    })),
  };
}

type StreamAlert = { meterIndex: number; customerIndex: number; kind: AlertKind; threshold: string; periodStart: number; periodEnd: number; used: string; limit: string; at: number };

/**
 * Events in time order: instants spread over the range with a weekly and daily rhythm and
 * a growing business; each burst picks a customer by Zipf rank and one of the meters that
 * customer uses. Per customer × meter it keeps the open period's counter (and distinct
 * values), as ingest does, to refuse what a hard cap would and to record crossings.
 */
class EventGenerator {
  refused = 0;
  /** Time spent generating rows (the rest of the load is Postgres's). */
  generateMs = 0;
  private readonly rng: Rng;
  private readonly creatorId: string;
  private readonly meters: SeedMeter[];
  private readonly customers: SeedCustomer[];
  private readonly plan: PlanIndex[];
  private readonly from: Date;
  private readonly to: Date;
  private readonly total: number;
  private readonly cumulative: Float64Array;
  /** Per customer: meters used and their cumulative weights. */
  private readonly used: Array<{ meters: number[]; cumulative: number[] }>;
  /** Per customer × plan-limit: the limit, by meter. */
  private readonly limits: Array<Array<LimitInfo | null>>;
  private readonly custStart: Float64Array;
  private readonly custEnd: Float64Array;
  private readonly custStartIso: string[];
  private readonly periodList: SeedPeriod[] = [];
  private readonly streamStart: Float64Array;
  private readonly counter: Float64Array;
  private readonly distinct = new Map<number, Set<number | string>>();
  private readonly fired = new Map<number, Set<string>>();
  private readonly found: StreamAlert[] = [];
  private existingCounters = new Map<string, number>();
  private existingDistinct = new Map<string, Set<string>>();

  constructor(input: { rng: Rng; creatorId: string; meters: SeedMeter[]; customers: SeedCustomer[]; from: Date; to: Date; events: number }) {
    this.rng = input.rng;
    this.creatorId = input.creatorId;
    this.meters = input.meters;
    this.customers = input.customers;
    this.from = input.from;
    this.to = input.to;
    this.total = input.events;
    this.plan = input.customers.map((c) => planIndexOf(c.planName));
    this.cumulative = new Float64Array(input.customers.length);
    let acc = 0;
    const share = zipfShares(input.customers.length);
    for (let i = 0; i < share.length; i++) this.cumulative[i] = acc += share[i]!;
    // Adoption is drawn from a generator of its own, so a customer's meters stay the same across appends.
    const adoptRng = createRng(0xad0b7);
    this.used = input.customers.map(() => {
      const meters: number[] = [];
      input.meters.forEach((m, i) => {
        if (i === 0 || adoptRng.float() < m.template.adoption) meters.push(i);
      });
      let c = 0;
      return { meters, cumulative: meters.map((i) => (c += input.meters[i]!.template.weight)) };
    });
    this.limits = [0, 1, 2, 3].map((p) => input.meters.map((m) => this.limitInfo(m, SEED_PLANS[p]!)));
    const n = input.customers.length;
    this.custStart = new Float64Array(n).fill(-1);
    this.custEnd = new Float64Array(n).fill(-1);
    this.custStartIso = new Array<string>(n).fill('');
    this.streamStart = new Float64Array(n * input.meters.length).fill(-1);
    this.counter = new Float64Array(n * input.meters.length);
    // Every period of every customer that overlaps the range gets its counters rebuilt.
    input.customers.forEach((c) => {
      for (let at = input.from.getTime(); at < input.to.getTime(); ) {
        const period = periodAt(new Date(at), c.billingAnchor);
        this.periodList.push({ customerId: c.customerId, start: period.start, end: period.end });
        at = period.end.getTime();
      }
    });
  }

  private limitInfo(m: SeedMeter, planName: string): LimitInfo | null {
    const limit = m.meter.planLimits.find((l) => l.planName === planName);
    if (!limit || limit.limitValue === null || new D(limit.limitValue).isZero()) return null;
    const base = new D(limit.limitValue).times(m.toBase).times(m.counterScale);
    const thresholds: LimitInfo['thresholds'] = [];
    if (limit.softLimitThreshold !== null) thresholds.push({ kind: 'soft_limit_reached', threshold: limit.softLimitThreshold, at: base.times(limit.softLimitThreshold).toNumber() });
    for (const t of m.meter.alertThresholds) thresholds.push({ kind: 'threshold_reached', threshold: t, at: base.times(t).toNumber() });
    return { limit: limit.limitValue, base: base.toNumber(), hardCap: limit.hardCap, thresholds };
  }

  async loadExisting(rt: Runtime, creatorId: string): Promise<void> {
    const since = new Date(this.earliestPeriodStart().getTime());
    const [counters, values] = await withCreator(rt.db, creatorId, async (tx) => [await listPeriodCounters(tx, creatorId, since), await listUniqueValues(tx, creatorId, since)] as const);
    const meterIndex = new Map(this.meters.map((m, i) => [m.meter.id, i]));
    for (const c of counters) {
      const i = meterIndex.get(c.meterId);
      if (i === undefined) continue;
      this.existingCounters.set(`${c.meterId}|${c.customerId}|${c.periodStart.getTime()}`, Number(c.value) * this.meters[i]!.counterScale);
    }
    for (const v of values) {
      const key = `${v.meterId}|${v.customerId}|${v.periodStart.getTime()}`;
      const set = this.existingDistinct.get(key) ?? new Set<string>();
      set.add(v.value);
      this.existingDistinct.set(key, set);
    }
  }

  earliestPeriodStart(): Date {
    return new Date(this.periodList.reduce((min, p) => Math.min(min, p.start.getTime()), this.from.getTime()));
  }

  periods(): SeedPeriod[] {
    return this.periodList;
  }

  alerts(now: Date): SeedAlertRow[] {
    return this.found.map((a) => {
      const open = a.periodEnd > now.getTime();
      return {
        meterId: this.meters[a.meterIndex]!.meter.id,
        customerId: this.customers[a.customerIndex]!.customerId,
        kind: a.kind,
        threshold: a.threshold,
        periodStart: new Date(a.periodStart),
        periodEnd: new Date(a.periodEnd),
        used: a.used,
        limitValue: a.limit,
        status: open ? 'open' : 'resolved',
        createdAt: new Date(a.at),
        resolvedAt: open ? null : new Date(a.periodEnd),
      };
    });
  }

  private pickCustomer(): number {
    const x = this.rng.float();
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private pickMeter(customer: number): number {
    const { meters, cumulative } = this.used[customer]!;
    const x = this.rng.float() * cumulative[cumulative.length - 1]!;
    for (let i = 0; i < meters.length; i++) if (x < cumulative[i]!) return meters[i]!;
    return meters[meters.length - 1]!;
  }

  /** Hour weights over the range: quieter nights and weekends, 60 % more traffic at the end than at the start. */
  private hourWeights(): Float64Array {
    const hours = Math.ceil((this.to.getTime() - this.from.getTime()) / HOUR_MS);
    const weights = new Float64Array(hours);
    for (let h = 0; h < hours; h++) {
      const at = new Date(this.from.getTime() + h * HOUR_MS);
      const hour = at.getUTCHours();
      const day = at.getUTCDay();
      const diurnal = 0.35 + 0.65 * Math.max(0, Math.sin(((hour - 6) / 24) * 2 * Math.PI)) + (hour >= 8 && hour <= 18 ? 0.3 : 0);
      const weekly = day === 0 || day === 6 ? 0.55 : 1;
      weights[h] = diurnal * weekly * (1 + (0.6 * h) / hours);
    }
    return weights;
  }

  /** COPY text rows, in chunks; `progress` gets the number of events written so far. */
  async *rows(progress: (done: number) => void): AsyncGenerator<string> {
    const rng = this.rng;
    const fromMs = this.from.getTime();
    const toMs = this.to.getTime();
    const weights = this.hourWeights();
    let weightTotal = 0;
    for (const w of weights) weightTotal += w;
    let hour = 0;
    let hourCum = 0; // cumulative weight before `hour`
    let burstLeft = 0;
    let customer = 0;
    let meterIndex = 0;
    let burstKey = 0;
    const chunk: string[] = [];
    const CHUNK = 2000;
    let lastProgress = 0;
    let resumed = performance.now();

    for (let i = 0; i < this.total; i++) {
      // The i-th instant: the inverse of the cumulative hour weights at (i + jitter) / total.
      const u = ((i + rng.float()) / this.total) * weightTotal;
      while (hour < weights.length - 1 && hourCum + weights[hour]! <= u) hourCum += weights[hour++]!;
      const t = Math.min(toMs - 1, Math.floor(fromMs + hour * HOUR_MS + ((u - hourCum) / weights[hour]!) * HOUR_MS));

      let row: string | null = null;
      for (let attempt = 0; row === null; attempt++) {
        if (burstLeft <= 0 || attempt > 0) {
          customer = attempt > 40 ? this.uncappedCustomer() : this.pickCustomer();
          meterIndex = this.pickMeter(customer);
          const sm = this.meters[meterIndex]!;
          burstLeft = rng.geometric(sm.template.burst);
          const pool = sm.template.pool?.[this.plan[customer]!] ?? 1;
          burstKey = rng.int(1, pool);
        }
        row = this.judge(customer, meterIndex, t, burstKey);
        if (row === null) burstLeft = 0;
      }
      burstLeft--;
      chunk.push(row);
      if (chunk.length >= CHUNK) {
        const text = chunk.join('');
        chunk.length = 0;
        this.generateMs += performance.now() - resumed;
        yield text;
        resumed = performance.now();
        if (i - lastProgress >= 20_000) {
          progress(i + 1);
          lastProgress = i;
        }
      }
    }
    if (chunk.length > 0) yield chunk.join('');
    progress(this.total);
  }

  /** A customer on a plan without hard caps: the way out when capped customers keep being drawn. */
  private uncappedCustomer(): number {
    for (let tries = 0; tries < 100; tries++) {
      const c = this.pickCustomer();
      if (this.plan[c]! > 0) return c;
    }
    return this.plan.findIndex((p) => p > 0) >= 0 ? this.plan.findIndex((p) => p > 0) : 0;
  }

  /** One event judged as ingest would: its COPY row, or null when a hard cap refuses it. */
  private judge(c: number, m: number, t: number, burstKey: number): string | null {
    const rng = this.rng;
    const sm = this.meters[m]!;
    const customer = this.customers[c]!;
    if (t >= this.custEnd[c]!) {
      const period = periodAt(new Date(t), customer.billingAnchor);
      this.custStart[c] = period.start.getTime();
      this.custEnd[c] = period.end.getTime();
      this.custStartIso[c] = period.start.toISOString();
    }
    const s = c * this.meters.length + m;
    const periodStart = this.custStart[c]!;
    if (this.streamStart[s] !== periodStart) {
      this.streamStart[s] = periodStart;
      const key = `${sm.meter.id}|${customer.customerId}|${periodStart}`;
      this.counter[s] = this.existingCounters.get(key) ?? 0;
      this.fired.delete(s);
      if (sm.meter.aggregationType === 'unique') this.distinct.set(s, new Set(this.existingDistinct.get(key) ?? []));
    }
    const plan = this.plan[c]!;
    const value = sm.template.value(rng, plan);
    const properties = sm.template.properties(rng, burstKey);
    const current = this.counter[s]!;
    let next = current;
    let isNew = false;
    let distinctKey: string | null = null;
    switch (sm.meter.aggregationType) {
      case 'count':
        next = current + 1;
        break;
      case 'sum':
      case 'duration':
        next = current + value;
        break;
      case 'max':
        next = Math.max(current, value);
        break;
      case 'unique': {
        const property = sm.meter.uniqueProperty;
        distinctKey = property ? `p:${canonicalJson((JSON.parse(properties) as Record<string, unknown>)[property] ?? null)}` : `v:${value / sm.template.scale}`;
        isNew = !this.distinct.get(s)!.has(distinctKey);
        next = isNew ? current + 1 : current;
        break;
      }
    }
    const limit = this.limits[plan]![m]!;
    if (limit?.hardCap && next > limit.base && next > current) {
      this.refused++;
      this.cross(s, c, m, limit, current, current, true, t);
      return null;
    }
    this.counter[s] = next;
    if (isNew && distinctKey !== null) this.distinct.get(s)!.add(distinctKey);
    if (limit && next > current) this.cross(s, c, m, limit, current, next, false, t);
    const valueText = sm.template.scale === 1 ? String(value) : String(value / sm.template.scale);
    const received = t + 20 + (rng.u32() % 400);
    return `${this.creatorId}\t${uuidV7(rng, t)}\t${sm.meter.id}\t${customer.customerId}\t${sm.meter.eventName}\t${customer.userId}\t${valueText}\t${properties}\t\\N\t${isNew ? 't' : 'f'}\t${this.custStartIso[c]}\t${new Date(t).toISOString()}\t${new Date(received).toISOString()}\n`;
  }

  /** The thresholds this event crossed (ingest's detectAlerts for a group of one). */
  private cross(s: number, c: number, m: number, limit: LimitInfo, from: number, to: number, refused: boolean, t: number): void {
    const hits: Array<{ kind: AlertKind; threshold: string }> = [];
    const reached = (at: number) => from < at && to >= at;
    for (const th of limit.thresholds) if (reached(th.at)) hits.push(th);
    if (limit.hardCap) {
      if (refused || reached(limit.base)) hits.push({ kind: 'hard_limit_reached', threshold: '1' });
    } else if (from <= limit.base && to > limit.base) hits.push({ kind: 'overage_started', threshold: '1' });
    if (hits.length === 0) return;
    const fired = this.fired.get(s) ?? new Set<string>();
    this.fired.set(s, fired);
    const sm = this.meters[m]!;
    const used = toWireRounded(aggregationOf(sm.meter.aggregationType).toUnit(new D(to).dividedBy(sm.counterScale), sm.meter.unitName));
    for (const hit of hits) {
      const key = `${hit.kind}|${hit.threshold}`;
      if (fired.has(key)) continue;
      fired.add(key);
      this.found.push({ meterIndex: m, customerIndex: c, kind: hit.kind, threshold: hit.threshold, periodStart: this.custStart[c]!, periodEnd: this.custEnd[c]!, used, limit: limit.limit, at: t });
    }
  }
}
