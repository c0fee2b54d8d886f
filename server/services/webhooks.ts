import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Tx } from '../../db/client.js';
import {
  deleteEndpointRow,
  failPendingMessages,
  findEndpoint,
  listEndpointClaims,
  findEndpointSecrets,
  findMessage,
  insertAttempt,
  insertEndpoint,
  insertMessagesOnce,
  listEndpoints,
  listMessagesWithAttempts,
  listRecentAttempts,
  listSubscribedEndpoints,
  markEndpointFailing,
  markEndpointHealthy,
  rotateEndpointSecret,
  updateEndpointRow,
  updateMessageRow,
  type EndpointFields,
  type MessageWithAttempts,
  type WebhookAttempt,
  type WebhookEndpoint,
  type WebhookMessage,
} from '../../db/queries/webhooks.js';
import { withCreator } from '../../db/tenant.js';
import { enqueueInTx } from '../../jobs/queues.js';
import { AppError, notFound, validationError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { isSuccessStatus, type TCreateWebhookInput, type TListDeliveriesInput, type TRotateWebhookSecretInput, type TUpdateWebhookInput } from '../schemas/webhooks.js';
import { alertWebhookPayload, WEBHOOK_EVENT_OF, type AlertContext } from './alert-context.js';
import { backoffDelayMs } from './backoff.js';
import { CLAIM_MARGIN_MS, holdsClaim, isClaimed, runAgainAfterClaim } from './claims.js';
import { queueCreatorEmail } from './email.js';
import { safePost, UnsafeUrlError, vetUrl, type PostResult } from './ssrf.js';

export type { MessageWithAttempts, WebhookAttempt, WebhookEndpoint, WebhookMessage };

const HOUR = 3_600_000;

/**
 * When failed deliveries are tried again, and when an endpoint is given up on. A module
 * object so tests can shorten it (the job queue's clock is the database's, not rt.now).
 */
export const WEBHOOK_RETRY = {
  /** Wait after the 1st, 2nd, … failed attempt; past the list, a random wait in `tailMs`. */
  delaysMs: [5_000, 30_000, 120_000, 600_000, 1_800_000, HOUR] as number[],
  tailMs: [2 * HOUR, 6 * HOUR] as [number, number],
  /** ± this fraction of each listed delay, so endpoints that failed together are not retried in lockstep. */
  jitter: 0.2,
  /** A message is tried for this long after it was created, then marked failed. */
  giveUpAfterMs: 72 * HOUR,
  /**
   * A delivery job that runs more than this before the message's next attempt is due is
   * a duplicate of the scheduled one (a re-run of an attempt already made) and does nothing.
   */
  dueToleranceMs: 2_000,
  /**
   * A failure more than this after the endpoint's previous attempt starts a new run of
   * failures (twice the longest wait between retries): an endpoint that failed once, then
   * had nothing to deliver for days, is not "failing for 24 h" at its next failure.
   */
  failingRunGapMs: 12 * HOUR,
  /** An endpoint failing continuously this long, with at least `disableAfterFailures` failed attempts in a row, is disabled. */
  disableAfterMs: 24 * HOUR,
  disableAfterFailures: 5,
};

/**
 * Attempts in flight to one endpoint at once, across processes. A receiver that never answers
 * holds each attempt for WEBHOOK_TIMEOUT_MS, and with it the worker running it (a worker runs
 * a drained batch together and fetches again once all of it settled). Uncapped, one creator's
 * dead endpoint with a backlog held every worker, and so every other creator's webhooks (45 of
 * its messages delayed another creator's by 16 s). A healthy endpoint takes `healthy` at once
 * (a burst still drains in parallel), one whose last attempt failed one: fewer than a process's
 * `workers`, so one is always free for everyone else. A message of an endpoint at its cap waits
 * (see deliverWebhook).
 */
export const ENDPOINT_IN_FLIGHT = { healthy: 8, failing: 1, workers: 10, localWaitMs: 250 };

/**
 * Runs of this process waiting for an attempt to an endpoint at its cap to end: woken when one
 * of this process's ends (an attempt elsewhere ends unseen: they look again after localWaitMs).
 * A burst to a healthy endpoint is thus handed on attempt by attempt, not put off through the
 * queue, whose delayed jobs wait for a worker's next poll.
 */
const endpointWaiters = new Map<string, Set<() => void>>();

function waitForEndpoint(endpointId: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const waiters = endpointWaiters.get(endpointId) ?? new Set<() => void>();
    endpointWaiters.set(endpointId, waiters);
    const done = () => {
      clearTimeout(timer);
      waiters.delete(done);
      if (waiters.size === 0 && endpointWaiters.get(endpointId) === waiters) endpointWaiters.delete(endpointId);
      resolve();
    };
    const timer = setTimeout(done, ms);
    waiters.add(done);
  });
}

/** An attempt to the endpoint ended here: one waiting run looks again. */
function endpointFreed(endpointId: string) {
  const next = endpointWaiters.get(endpointId)?.values().next().value;
  next?.();
}

/** How long an attempt's claim holds its message: the attempt's timeout and a margin for its process to record it. */
const claimMs = (rt: Runtime) => rt.env.WEBHOOK_TIMEOUT_MS + CLAIM_MARGIN_MS;

/** Delay before the attempt after `attempts` failed deliveries (WEBHOOK_RETRY). */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  return backoffDelayMs(WEBHOOK_RETRY, attempts, random);
}

/** Standard Webhooks secret: whsec_ + base64 of 32 random bytes. */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const newMessageId = () => `msg_${randomBytes(18).toString('base64url')}`;

const USER_AGENT = 'Staryer-Usage-Webhooks/1';

/**
 * Refuses a URL whose host is or resolves to a non-public address (unless
 * ALLOW_PRIVATE_WEBHOOK_URLS), naming the field. A name that does not resolve (yet) is
 * accepted: there is nothing to call, and every delivery vets the host again.
 */
async function requirePublicUrl(rt: Runtime, url: string): Promise<void> {
  if (rt.env.ALLOW_PRIVATE_WEBHOOK_URLS) return;
  try {
    // A name server that does not answer holds the request no longer than a delivery attempt.
    await vetUrl(new URL(url), { allowPrivate: false, resolveTimeoutMs: rt.env.WEBHOOK_TIMEOUT_MS });
  } catch (error) {
    if (error instanceof UnsafeUrlError && error.reason === 'unresolvable') return;
    if (error instanceof UnsafeUrlError) throw validationError([{ field: 'url', message: error.message }]);
    throw error;
  }
}

const TOP_LEVEL_ORDER = ['type', 'timestamp', 'test', 'data'];
const DATA_ORDER = ['user_id', 'meter_id', 'event_name', 'used', 'limit', 'threshold', 'period_start', 'period_end'];

const ordered = (value: Record<string, unknown>, order: string[]) =>
  Object.fromEntries(Object.entries(value).sort(([a], [b]) => (order.indexOf(a) >>> 0) - (order.indexOf(b) >>> 0) || (a < b ? -1 : a > b ? 1 : 0)));

/**
 * The body bytes of a message, the same on every attempt and replay. jsonb keeps its own
 * key order, so the documented one (type, timestamp, data; data's fields as in DESIGN.md)
 * is restored here.
 */
export function serializeWebhookPayload(payload: unknown): string {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return JSON.stringify(payload);
  const top = ordered(payload as Record<string, unknown>, TOP_LEVEL_ORDER);
  const data = top.data;
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) top.data = ordered(data as Record<string, unknown>, DATA_ORDER);
  return JSON.stringify(top);
}

export async function createWebhookEndpoint(rt: Runtime, creatorId: string, input: TCreateWebhookInput): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  await requirePublicUrl(rt, input.url);
  const secret = newSecret();
  const endpoint = await withCreator(rt.db, creatorId, async (tx) => {
    const created = await insertEndpoint(tx, { creatorId, id: randomUUID(), url: input.url, eventTypes: input.events, secret }, rt.now());
    if (input.enabled) return created;
    return (await updateEndpointRow(tx, created.id, { enabled: false, disabledReason: 'Created disabled.' }, rt.now()))!;
  });
  // The origin only: a URL's path or query may be its secret (hooks.slack.com/services/…).
  rt.log.info({ creatorId, endpointId: endpoint.id, origin: new URL(endpoint.url).origin }, 'webhook endpoint created');
  return { endpoint, secret };
}

/**
 * A new signing secret for an endpoint, shown once (a secret leaked, or changed on a schedule).
 * For `previous_secret_expires_in_hours` (24 by default, 0 to 168) every message also carries a
 * signature by the secret it replaces — Standard Webhooks' several signatures in one
 * `webhook-signature` header — so a receiver verifying with either keeps working while it is
 * switched over. Rotating again within that time keeps only the secret being replaced.
 */
export async function rotateWebhookSecret(rt: Runtime, creatorId: string, endpointId: string, input: TRotateWebhookSecretInput): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const secret = newSecret();
  const now = rt.now();
  const hours = input.previous_secret_expires_in_hours;
  const endpoint = await withCreator(rt.db, creatorId, (tx) => rotateEndpointSecret(tx, endpointId, secret, hours > 0 ? new Date(now.getTime() + hours * HOUR) : null, now));
  if (!endpoint) throw notFound('Webhook endpoint');
  rt.log.info({ creatorId, endpointId, previousSecretHours: hours }, 'webhook signing secret rotated');
  return { endpoint, secret };
}

export const listWebhookEndpoints = (rt: Runtime, creatorId: string) => withCreator(rt.db, creatorId, (tx) => listEndpoints(tx));

export async function getWebhookEndpoint(rt: Runtime, creatorId: string, endpointId: string): Promise<WebhookEndpoint> {
  const endpoint = await withCreator(rt.db, creatorId, (tx) => findEndpoint(tx, endpointId));
  if (!endpoint) throw notFound('Webhook endpoint');
  return endpoint;
}

export async function updateWebhookEndpoint(rt: Runtime, creatorId: string, endpointId: string, input: TUpdateWebhookInput): Promise<WebhookEndpoint> {
  if (input.url !== undefined) await requirePublicUrl(rt, input.url);
  return withCreator(rt.db, creatorId, async (tx) => {
    const current = await findEndpoint(tx, endpointId, { forUpdate: true });
    if (!current) throw notFound('Webhook endpoint');
    const fields: EndpointFields = {};
    if (input.url !== undefined) fields.url = input.url;
    if (input.events !== undefined) fields.eventTypes = input.events;
    if (input.enabled === true && !current.enabled) {
      // A fresh start: the old run of failures no longer counts towards disabling it again.
      Object.assign(fields, { enabled: true, disabledReason: null, failingSince: null });
    } else if (input.enabled === false && current.enabled) {
      Object.assign(fields, { enabled: false, disabledReason: 'Disabled by the creator.' });
    }
    return (await updateEndpointRow(tx, endpointId, fields, rt.now()))!;
  });
}

/** Deletes an endpoint; its pending messages stop (marked failed). Attempt logs are append-only and stay. */
export async function deleteWebhookEndpoint(rt: Runtime, creatorId: string, endpointId: string): Promise<void> {
  const deleted = await withCreator(rt.db, creatorId, async (tx) => {
    // Messages first, then the endpoint: the order deliveries lock them in.
    await failPendingMessages(tx, endpointId);
    return deleteEndpointRow(tx, endpointId);
  });
  if (!deleted) throw notFound('Webhook endpoint');
  rt.log.info({ creatorId, endpointId }, 'webhook endpoint deleted');
}

/**
 * The webhook messages of one alert, inside the alerts.notify transaction (tenant set):
 * one per enabled endpoint subscribed to the alert's event type, created once whatever
 * the retries (unique key), each new one queued for delivery in the same transaction.
 */
export async function createWebhookMessages(rt: Runtime, tx: Tx, ctx: AlertContext): Promise<void> {
  const eventType = WEBHOOK_EVENT_OF[ctx.alert.kind];
  const endpoints = await listSubscribedEndpoints(tx, eventType);
  if (endpoints.length === 0) return;
  const now = rt.now();
  const payload = alertWebhookPayload(ctx);
  const inserted = await insertMessagesOnce(
    tx,
    endpoints.map((endpoint) => ({
      id: newMessageId(),
      creatorId: ctx.alert.creatorId,
      endpointId: endpoint.id,
      alertId: ctx.alert.id,
      eventType,
      payload,
      nextAttemptAt: now,
    })),
    now,
  );
  for (const message of inserted) {
    await queueDelivery(rt, tx, message.creatorId, message.id, 1, 0);
  }
}

/** What an attempt needs once its transaction has committed: the HTTP call runs outside any. */
type Send = { endpoint: WebhookEndpoint; message: Pick<WebhookMessage, 'id' | 'creatorId' | 'payload'>; secrets: string[] };
type Sent = PostResult & { attemptedAt: Date };

/**
 * Signs and POSTs a message once. Called with no transaction open: a receiver that takes
 * WEBHOOK_TIMEOUT_MS to answer holds no connection, row lock or snapshot meanwhile.
 * Never throws for the endpoint's failures.
 */
async function sendOnce(rt: Runtime, { endpoint, message, secrets }: Send): Promise<Sent> {
  const body = serializeWebhookPayload(message.payload);
  const attemptedAt = rt.now();
  // The signed timestamp is checked against the receiver's wall clock (replay protection,
  // ±5 min), so it is the wall clock's too, whatever clock the runtime keeps business time by.
  const signedAt = new Date();
  // One signature per secret in force, space-separated (Standard Webhooks): during a rotation's
  // overlap a receiver verifies with the new secret or the old one.
  const signature = secrets.map((secret) => new Webhook(secret).sign(message.id, signedAt, body)).join(' ');
  const result = await safePost(new URL(endpoint.url), body, {
    allowPrivate: rt.env.ALLOW_PRIVATE_WEBHOOK_URLS,
    timeoutMs: rt.env.WEBHOOK_TIMEOUT_MS,
    headers: {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': message.id,
      'webhook-timestamp': String(Math.floor(signedAt.getTime() / 1000)),
      'webhook-signature': signature,
    },
  });
  return { ...result, attemptedAt };
}

/** Records a sent attempt and what it says about the endpoint's health. */
async function recordAttempt(rt: Runtime, tx: Tx, { endpoint, message }: Send, sent: Sent): Promise<WebhookAttempt> {
  const attempt = await insertAttempt(tx, message.creatorId, { id: randomUUID(), messageId: message.id, endpointId: endpoint.id, ...sent });
  if (isSuccessStatus(attempt.statusCode)) await markEndpointHealthy(tx, endpoint.id);
  else await markEndpointFailing(tx, endpoint.id, attempt.attemptedAt, WEBHOOK_RETRY.failingRunGapMs);
  rt.log.info(
    { creatorId: message.creatorId, endpointId: endpoint.id, messageId: message.id, statusCode: attempt.statusCode, latencyMs: attempt.latencyMs, error: attempt.error },
    'webhook attempt',
  );
  return attempt;
}

/** The secrets a message is signed with now: the endpoint's, and the one its last rotation replaced while that still signs. */
async function signingSecrets(rt: Runtime, tx: Tx, endpointId: string): Promise<string[]> {
  const found = await findEndpointSecrets(tx, endpointId);
  if (!found) throw new Error(`webhook endpoint ${endpointId} has no signing secret`);
  const previousInForce = found.previousSecret !== null && found.previousSecretExpiresAt !== null && found.previousSecretExpiresAt.getTime() > rt.now().getTime();
  return previousInForce ? [found.secret, found.previousSecret!] : [found.secret];
}

/** Claims the (locked) message for one attempt: no other run sends it until the claim lapses. */
async function claim(rt: Runtime, tx: Tx, message: WebhookMessage, endpoint: WebhookEndpoint, now: Date): Promise<Send & { until: Date }> {
  const secrets = await signingSecrets(rt, tx, endpoint.id);
  const until = new Date(now.getTime() + claimMs(rt));
  await updateMessageRow(tx, message.id, { sendingUntil: until });
  return { endpoint, message, secrets, until };
}

/** The message, locked, if this run's claim on it still holds (it lapses only if this process stalled past the margin). */
async function stillClaimed(tx: Tx, messageId: string, until: Date): Promise<WebhookMessage | null> {
  const message = await findMessage(tx, messageId, { forUpdate: true });
  return holdsClaim(message?.sendingUntil, until) ? message : null;
}

/**
 * An attempt whose claim lapsed before its answer was recorded (its process stalled past
 * the margin, and another run may be sending the message again): a 2xx still means the
 * receiver has it, so a message still pending is delivered — no retry follows from the run
 * holding it now, whatever that run's own attempt answers. Anything else is left to that run.
 */
async function recordLateAnswer(tx: Tx, messageId: string, attempt: WebhookAttempt): Promise<boolean> {
  if (!isSuccessStatus(attempt.statusCode)) return false;
  const message = await findMessage(tx, messageId, { forUpdate: true });
  if (message?.status !== 'pending') return false;
  await updateMessageRow(tx, messageId, { status: 'delivered', attempts: message.attempts + 1, deliveredAt: attempt.attemptedAt, nextAttemptAt: null });
  return true;
}

export type DeliveryOutcome = 'delivered' | 'retry_scheduled' | 'failed' | 'skipped';

/**
 * Queues the job for a message's `attempt`-th delivery, `inMs` from now (a wait, on the
 * database's clock). The job names its attempt (so a duplicate for an attempt already made
 * ends, see deliverWebhook), and so does its singletonKey (so the queue shows which it is).
 */
function queueDelivery(rt: Runtime, tx: Tx, creatorId: string, messageId: string, attempt: number, inMs: number): Promise<void> {
  return enqueueInTx(rt.boss, tx, 'webhooks.deliver', { creatorId, messageId, attempt }, { startInMs: inMs, singletonKey: `${messageId}:${attempt}` });
}

/**
 * One scheduled delivery attempt of a message (the webhooks.deliver job). Idempotent: a
 * delivered or failed message is left alone, and so is one whose next attempt is not due
 * yet (a duplicate run of an attempt already made). 2xx → delivered; otherwise the next
 * attempt is scheduled with backoff until 3 days after creation, then the message fails.
 * An endpoint failing for 24 h and its last 5 attempts is disabled and the creator told.
 *
 * Three steps, so that no transaction stays open while the receiver takes its time: claim
 * the message (a short transaction sets `sending_until`), send it, then record the attempt
 * and schedule what follows (another short transaction). A run that finds the message
 * claimed sends nothing and looks again once the claim has lapsed: by then the attempt is
 * recorded (the message is delivered or not due) or its process died mid-attempt (and this
 * run sends it).
 */
export async function deliverWebhook(rt: Runtime, creatorId: string, messageId: string, forAttempt?: number): Promise<DeliveryOutcome> {
  const started = performance.now();
  for (;;) {
    const claimed = await claimForDelivery(rt, creatorId, messageId, forAttempt);
    if (typeof claimed === 'string') return claimed;
    if ('busy' in claimed) {
      // The endpoint is at its cap: wait here a little for one of its attempts to end (most end
      // in moments), then put the attempt off.
      const left = ENDPOINT_IN_FLIGHT.localWaitMs - (performance.now() - started);
      if (left > 0) {
        await waitForEndpoint(claimed.busy.endpointId, left);
        continue;
      }
      await withCreator(rt.db, creatorId, (tx) => enqueueInTx(rt.boss, tx, 'webhooks.deliver', claimed.busy.job, claimed.busy.options));
      return 'skipped';
    }
    try {
      return await sendAndRecord(rt, creatorId, messageId, claimed);
    } finally {
      endpointFreed(claimed.endpoint.id);
    }
  }
}

/** An endpoint at its cap of attempts in flight: the job that runs this attempt later. */
type Busy = { busy: { endpointId: string; job: { creatorId: string; messageId: string; attempt: number }; options: { startInMs: number; singletonKey: string } } };

/** The first step of deliverWebhook: the message claimed for an attempt, or why not. */
async function claimForDelivery(rt: Runtime, creatorId: string, messageId: string, forAttempt?: number): Promise<DeliveryOutcome | Busy | (Send & { until: Date })> {
  return withCreator(rt.db, creatorId, async (tx): Promise<DeliveryOutcome | Busy | (Send & { until: Date })> => {
    const message = await findMessage(tx, messageId, { forUpdate: true });
    if (!message || message.status !== 'pending') return 'skipped';
    const now = rt.now();
    const next = message.attempts + 1;
    if (message.nextAttemptAt && message.nextAttemptAt.getTime() - now.getTime() > WEBHOOK_RETRY.dueToleranceMs) {
      // The job for the next attempt, started early: the time it waited for was set by
      // another server's clock (the one that recorded the last attempt), this one's is
      // behind. It waits again, for the rest by this clock, or the message would be left
      // pending with no job. A job for an attempt already made (a duplicate) just ends.
      if (forAttempt === next) {
        await queueDelivery(rt, tx, creatorId, messageId, next, message.nextAttemptAt.getTime() - now.getTime());
      }
      return 'skipped';
    }
    if (isClaimed(message.sendingUntil, now)) {
      await runAgainAfterClaim(rt.boss, tx, 'webhooks.deliver', { creatorId, messageId, attempt: next }, messageId, message.sendingUntil!, now);
      return 'skipped';
    }
    // Locked (after the message, the order deleting an endpoint takes them in): claims on one
    // endpoint are made one at a time, so its cap on attempts in flight holds across processes.
    const endpoint = await findEndpoint(tx, message.endpointId, { forUpdate: true });
    // Disabled endpoints get nothing, nor do endpoints that no longer subscribe to the message's
    // event type (a retry due after the creator unsubscribed); the creator can replay it.
    const unsubscribed = endpoint !== null && message.alertId !== null && !(endpoint.eventTypes as readonly string[]).includes(message.eventType);
    if (!endpoint || !endpoint.enabled || unsubscribed) {
      await updateMessageRow(tx, messageId, { status: 'failed', nextAttemptAt: null });
      return 'failed';
    }
    const sending = await listEndpointClaims(tx, endpoint.id, messageId, now);
    const failing = endpoint.failingSince !== null;
    if (sending.length >= (failing ? ENDPOINT_IN_FLIGHT.failing : ENDPOINT_IN_FLIGHT.healthy)) {
      // Not an attempt: the same one runs later. A healthy endpoint's at once, behind every job
      // queued meanwhile (the queue is in creation order): everyone else's go first. A failing
      // one's after as long as its attempt in flight has run so far (a receiver answering 503 at
      // once is tried again soon, one that takes its timeout is not polled meanwhile), at most
      // until that attempt's claim ends; spread a little, so that a backlog comes back apart.
      const oldestStarted = sending[0]!.getTime() - claimMs(rt);
      const waitMs = failing
        ? Math.min(Math.max(now.getTime() - oldestStarted, ENDPOINT_IN_FLIGHT.localWaitMs), sending[0]!.getTime() - now.getTime()) + Math.floor(Math.random() * 250)
        : 0;
      return {
        busy: { endpointId: endpoint.id, job: { creatorId, messageId, attempt: next }, options: { startInMs: waitMs, singletonKey: `${messageId}:${next}:wait:${now.getTime() + waitMs}` } },
      };
    }
    return claim(rt, tx, message, endpoint, now);
  });
}

/** The second and third steps of deliverWebhook: the attempt sent, outside any transaction, then recorded. */
async function sendAndRecord(rt: Runtime, creatorId: string, messageId: string, claimed: Send & { until: Date }): Promise<DeliveryOutcome> {
  const sent = await sendOnce(rt, claimed);
  return withCreator(rt.db, creatorId, async (tx): Promise<DeliveryOutcome> => {
    // The message's lock before the endpoint's (recordAttempt updates its health): the order
    // deleting an endpoint takes them in, so the two cannot deadlock.
    const message = await stillClaimed(tx, messageId, claimed.until);
    const attempt = await recordAttempt(rt, tx, claimed, sent);
    if (!message) {
      // Another run took the message over after this one's claim lapsed: the attempt is on
      // record, the schedule is that run's — unless the receiver took it.
      rt.log.warn({ creatorId, messageId, statusCode: attempt.statusCode }, 'webhook attempt recorded after its claim lapsed');
      return (await recordLateAnswer(tx, messageId, attempt)) ? 'delivered' : 'skipped';
    }
    const attempts = message.attempts + 1;
    if (isSuccessStatus(attempt.statusCode)) {
      await updateMessageRow(tx, messageId, { status: 'delivered', attempts, deliveredAt: attempt.attemptedAt, nextAttemptAt: null, sendingUntil: null });
      return 'delivered';
    }
    if (message.status !== 'pending') {
      // Stopped while it was being sent (its endpoint deleted): the attempt is on record, nothing follows.
      await updateMessageRow(tx, messageId, { attempts, sendingUntil: null });
      return 'failed';
    }
    if (await disableIfFailingTooLong(rt, tx, claimed.endpoint.id, attempt.attemptedAt)) {
      await updateMessageRow(tx, messageId, { status: 'failed', attempts, nextAttemptAt: null, sendingUntil: null });
      return 'failed';
    }
    const deadline = message.createdAt.getTime() + WEBHOOK_RETRY.giveUpAfterMs;
    const nowMs = attempt.attemptedAt.getTime();
    if (nowMs >= deadline) {
      await updateMessageRow(tx, messageId, { status: 'failed', attempts, nextAttemptAt: null, sendingUntil: null });
      return 'failed';
    }
    // The last try is at the 3-day mark itself.
    const next = new Date(Math.min(nowMs + retryDelayMs(attempts), deadline));
    await updateMessageRow(tx, messageId, { attempts, nextAttemptAt: next, sendingUntil: null });
    // singletonKey names the attempt, so the queue shows which attempt a job is; the due
    // check above is what keeps a duplicate run from starting a second chain.
    await queueDelivery(rt, tx, creatorId, messageId, attempts + 1, next.getTime() - nowMs);
    return 'retry_scheduled';
  });
}

/** Disables the endpoint when it has failed for long enough, and tells the creator; true when it did. */
async function disableIfFailingTooLong(rt: Runtime, tx: Tx, endpointId: string, now: Date): Promise<boolean> {
  const endpoint = await findEndpoint(tx, endpointId, { forUpdate: true });
  if (!endpoint?.enabled || !endpoint.failingSince) return false;
  if (now.getTime() - endpoint.failingSince.getTime() < WEBHOOK_RETRY.disableAfterMs) return false;
  const recent = await listRecentAttempts(tx, endpointId, WEBHOOK_RETRY.disableAfterFailures);
  if (recent.length < WEBHOOK_RETRY.disableAfterFailures || recent.some((a) => isSuccessStatus(a.statusCode))) return false;
  const hours = Math.floor((now.getTime() - endpoint.failingSince.getTime()) / HOUR);
  const reason = `Disabled automatically on ${now.toISOString()}: every delivery failed for ${hours} hours (since ${endpoint.failingSince.toISOString()}).`;
  await updateEndpointRow(tx, endpointId, { enabled: false, disabledReason: reason }, now);
  const last = recent[0]!;
  const lastError = last.statusCode !== null ? `HTTP ${last.statusCode}` : (last.error ?? 'no answer');
  await queueCreatorEmail(rt, tx, endpoint.creatorId, {
    subject: 'Webhook endpoint disabled after repeated failures',
    text: [
      `Your webhook endpoint ${endpoint.url} has been disabled.`,
      '',
      `Every delivery to it has failed since ${endpoint.failingSince.toISOString()} (${hours} hours); the last attempt got: ${lastError}.`,
      'No further events will be sent to it until you re-enable it. Messages that were not delivered can be replayed once it works again.',
      '',
      `Endpoint id: ${endpointId}`,
    ].join('\n'),
  });
  rt.log.warn({ creatorId: endpoint.creatorId, endpointId, failingSince: endpoint.failingSince }, 'webhook endpoint disabled after sustained failures');
  return true;
}

/**
 * A test event: obviously fake data, `"test": true`, sent once now, answered with the
 * attempt. Nothing is written until the receiver has answered (or timed out): then the
 * message and its one attempt, together.
 */
export async function sendTestWebhook(rt: Runtime, creatorId: string, endpointId: string): Promise<{ messageId: string; attempt: WebhookAttempt }> {
  const send = await withCreator(rt.db, creatorId, async (tx) => {
    const endpoint = await findEndpoint(tx, endpointId);
    if (!endpoint) throw notFound('Webhook endpoint');
    return { endpoint, secrets: await signingSecrets(rt, tx, endpoint.id) };
  });
  const now = rt.now();
  const periodStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const periodEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const payload = {
    type: 'usage.threshold_reached' as const,
    timestamp: now.toISOString(),
    test: true,
    data: {
      user_id: 'test_user_123',
      meter_id: '00000000-0000-0000-0000-000000000000',
      event_name: 'test.api_calls',
      used: '800',
      limit: '1000',
      threshold: '0.8',
      period_start: periodStart.toISOString(),
      period_end: periodEnd.toISOString(),
    },
  };
  const message = { id: newMessageId(), creatorId, payload };
  const sent = await sendOnce(rt, { ...send, message });
  return withCreator(rt.db, creatorId, async (tx) => {
    const delivered = isSuccessStatus(sent.statusCode);
    // A test is one attempt: it is not retried.
    const [stored] = await insertMessagesOnce(tx, [{ ...message, endpointId, alertId: null, eventType: payload.type, nextAttemptAt: null }], now);
    await updateMessageRow(tx, stored!.id, { status: delivered ? 'delivered' : 'failed', attempts: 1, deliveredAt: delivered ? sent.attemptedAt : null });
    const attempt = await recordAttempt(rt, tx, { ...send, message }, sent);
    return { messageId: message.id, attempt };
  });
}

/**
 * Sends a message again now, with the same webhook-id, whatever its status (the
 * endpoint may be disabled: a replay is the creator's own decision). One attempt,
 * answered; a success marks the message delivered, a failure leaves its schedule as it was.
 * Claimed like a scheduled attempt: while one is being sent, a replay answers 409.
 */
export async function replayWebhookMessage(rt: Runtime, creatorId: string, messageId: string): Promise<{ messageId: string; attempt: WebhookAttempt }> {
  const claimed = await withCreator(rt.db, creatorId, async (tx) => {
    const message = await findMessage(tx, messageId, { forUpdate: true });
    if (!message) throw notFound('Webhook message');
    const endpoint = await findEndpoint(tx, message.endpointId);
    if (!endpoint) throw notFound('Webhook endpoint of this message');
    const now = rt.now();
    if (isClaimed(message.sendingUntil, now)) {
      throw new AppError('conflict', {
        code: 'delivery_in_progress',
        detail: 'This message is being sent right now; replay it once that attempt is over.',
        retryAfter: Math.max(1, Math.ceil((message.sendingUntil!.getTime() - now.getTime()) / 1000)),
      });
    }
    return claim(rt, tx, message, endpoint, now);
  });
  const sent = await sendOnce(rt, claimed);
  return withCreator(rt.db, creatorId, async (tx) => {
    const message = await stillClaimed(tx, messageId, claimed.until);
    const attempt = await recordAttempt(rt, tx, claimed, sent);
    if (message) {
      const attempts = message.attempts + 1;
      if (isSuccessStatus(attempt.statusCode)) {
        await updateMessageRow(tx, messageId, { status: 'delivered', attempts, deliveredAt: attempt.attemptedAt, nextAttemptAt: null, sendingUntil: null });
      } else {
        await updateMessageRow(tx, messageId, { attempts, sendingUntil: null });
        // Still to deliver: make sure a delivery is scheduled. The replay may have taken over
        // from a scheduled attempt whose claim lapsed, and that run schedules nothing then; a
        // job too many is harmless (a run that finds the message not due does nothing).
        if (message.status === 'pending' && message.nextAttemptAt) {
          const at = new Date(Math.max(message.nextAttemptAt.getTime(), attempt.attemptedAt.getTime()));
          await queueDelivery(rt, tx, creatorId, messageId, attempts + 1, at.getTime() - attempt.attemptedAt.getTime());
        }
      }
    } else await recordLateAnswer(tx, messageId, attempt);
    return { messageId, attempt };
  });
}

export async function listWebhookDeliveries(rt: Runtime, creatorId: string, endpointId: string, input: TListDeliveriesInput): Promise<MessageWithAttempts[]> {
  return withCreator(rt.db, creatorId, async (tx) => {
    if (!(await findEndpoint(tx, endpointId))) throw notFound('Webhook endpoint');
    return listMessagesWithAttempts(tx, endpointId, {
      limit: input.limit,
      before: input.before ? new Date(input.before) : undefined,
      beforeId: input.before_id,
    });
  });
}
