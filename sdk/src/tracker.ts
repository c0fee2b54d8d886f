import { v7 as uuidv7 } from 'uuid';
import { Credentials, type TokenResult } from './credentials';
import { isBrowser, nodeProcess, warnOnce } from './env';
import { QuotaExceededError, UsageError, errorFromProblem, type Problem } from './errors';
import type { UsageCheckOutput, UsageTrackOutput } from './router.generated';

/** One usage event, as the seed's `trackUsage` takes it. */
export type TrackEvent = {
  /** Your customer's id (1–256 characters). */
  userId: string;
  /** A meter's `event_name`. */
  eventName: string;
  /** Default 1. A number, or a decimal string for values a double cannot hold exactly. */
  value?: number | string;
  /** A JSON object of at most 8 KB. */
  properties?: Record<string, unknown>;
  /** When the usage happened. Default: when `trackUsage` was called (server side) or received (browser). */
  timestamp?: Date | string;
  /** Your own key for this event. Default: a UUIDv7 made when `trackUsage` is called. */
  idempotencyKey?: string;
};

/** The committed event, with the customer's usage after it. */
export type TrackedEvent = UsageTrackOutput;
/** `GET /api/usage/check`: the customer's usage against the limit, recording nothing. */
export type UsageCheck = UsageCheckOutput;

/** A change in a customer's usage that this tracker saw: an event committed or refused for the cap. */
export type UsageUpdate = {
  userId: string;
  eventName: string;
  used: string;
  limit: string | null;
  remaining: string | null;
  period_end: string;
  /** Set when the update comes from a committed event. */
  period_start?: string;
  /** An event was refused: the customer is at the hard cap. */
  exceeded: boolean;
};

export type UsageTrackingOptions = {
  /** Your creator account's id (the dashboard shows it). Checked against browser tokens. */
  creatorId: string;
  /** The server's root, e.g. `https://usage.example.com`. */
  baseURL: string;
  /** Server side only. Default (Node): the STARYER_API_KEY environment variable. */
  apiKey?: string;
  /** Browser: returns a short-lived user token your backend minted with `POST /api/usage/tokens`. */
  getToken?: () => TokenResult | Promise<TokenResult>;
  /** Send queued events at most this long after the first was queued. Default 250 ms. */
  flushInterval?: number;
  /** Events per request (the server takes up to 1,000). Default 100. */
  maxBatchSize?: number;
  /** Events held at most, sending or waiting; past it the oldest waiting one is dropped. Default 10,000. */
  maxQueueSize?: number;
  /** Attempts after the first before an event is given up. Default 8 (≈ 45–90 s of backoff in all). */
  maxRetries?: number;
  /** First backoff step; it doubles per failed attempt, with jitter. Default 500 ms. */
  retryBaseDelay?: number;
  /** Longest backoff step (a server's Retry-After may ask for more, up to 5 minutes). Default 30 s. */
  retryMaxDelay?: number;
  /** A request that has not answered in this long is aborted and retried. Default 10 s. */
  timeout?: number;
  /** Called for every event that is not recorded, with the same error its promise rejects with. */
  onError?: (error: UsageError, event: TrackEvent) => void;
  /** Your own fetch (tests, proxies, instrumentation). Default: the global fetch. */
  fetch?: typeof fetch;
};

type WireEvent = {
  event_name: string;
  user_id: string;
  value?: number | string;
  properties?: Record<string, unknown>;
  timestamp?: string;
  idempotency_key: string;
};

type Pending = {
  event: TrackEvent;
  wire: WireEvent;
  bytes: number;
  attempts: number;
  queuedAt: number;
  inFlight: boolean;
  lastError?: UsageError;
  done: Promise<unknown>;
  resolve: (tracked: TrackedEvent) => void;
  reject: (error: UsageError) => void;
};

type Answer = { status: number; body: unknown; retryAfterMs?: number };

const MAX_SERVER_BATCH = 1000;
/** The server takes 1 MB; stay well under it. */
const MAX_BATCH_BYTES = 900_000;
/** Browsers let keepalive requests carry 64 KiB in all; they are what outlives a closing page. */
const KEEPALIVE_BYTES = 60_000;
const MAX_RETRY_AFTER_MS = 5 * 60_000;
const RETRYABLE = (status: number) => status === 408 || status === 425 || status === 429 || status >= 500;

/** Trackers with events to deliver, for the process-exit and page-hide hooks. */
const live = new Set<UsageTracker>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  if (isBrowser()) {
    // The last moment a page reliably runs code: send what is queued with keepalive
    // requests, which the browser completes after the page is gone.
    const hide = () => {
      for (const tracker of live) tracker.sendBeforeUnload();
    };
    window.addEventListener('pagehide', hide);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') hide();
    });
    return;
  }
  // Node: timers do not hold the process open, so a script that tracks and ends still
  // delivers — beforeExit fires when nothing else is left, and the flush holds it open.
  nodeProcess()?.once?.('beforeExit', function onBeforeExit() {
    const pending = [...live];
    if (pending.length > 0) void Promise.all(pending.map((t) => t.flush())).finally(() => nodeProcess()?.once?.('beforeExit', onBeforeExit));
    else nodeProcess()?.once?.('beforeExit', onBeforeExit);
  });
}

/**
 * Queues events, sends them in batches, retries what may be retried and settles each
 * event's promise with the server's answer for that event. Every event carries an
 * idempotency key made when it was tracked, so a retry of an event the server already
 * committed (an answer lost on the way back) is answered from the server's record
 * instead of being counted again.
 */
export class UsageTracker {
  readonly creatorId: string;
  readonly baseURL: string;
  private readonly options: Required<Omit<UsageTrackingOptions, 'apiKey' | 'getToken' | 'onError' | 'fetch'>> & Pick<UsageTrackingOptions, 'onError' | 'fetch'>;
  private readonly credentials: Credentials;
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Set<Pending>();
  private readonly listeners = new Set<(update: UsageUpdate) => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sending = false;
  private draining = 0;
  private closed = false;
  private failures = 0;
  private backoffUntil = 0;

  constructor(options: UsageTrackingOptions) {
    if (!options || typeof options.baseURL !== 'string' || !/^https?:\/\//.test(options.baseURL)) {
      throw new TypeError('initUsageTracking: baseURL must be the server root, e.g. "https://usage.example.com".');
    }
    this.creatorId = options.creatorId;
    this.baseURL = options.baseURL.replace(/\/+$/, '');
    this.options = {
      creatorId: options.creatorId,
      baseURL: this.baseURL,
      flushInterval: options.flushInterval ?? 250,
      maxBatchSize: Math.min(Math.max(1, options.maxBatchSize ?? 100), MAX_SERVER_BATCH),
      maxQueueSize: Math.max(1, options.maxQueueSize ?? 10_000),
      maxRetries: Math.max(0, options.maxRetries ?? 8),
      retryBaseDelay: options.retryBaseDelay ?? 500,
      retryMaxDelay: options.retryMaxDelay ?? 30_000,
      timeout: options.timeout ?? 10_000,
      onError: options.onError,
      fetch: options.fetch,
    };
    this.credentials = new Credentials(options);
    installHooks();
  }

  /** Events not yet settled: queued, waiting for a retry or in flight. */
  get pending(): number {
    return this.queue.length + this.inFlight.size;
  }

  /**
   * Queues one event. Resolves with the committed event once the server has durably
   * recorded it; rejects with a {@link QuotaExceededError} when a hard cap refuses it,
   * or another {@link UsageError}. Not awaiting it is fine: failures also go to
   * `onError`, and never surface as unhandled rejections.
   */
  track(event: TrackEvent): Promise<TrackedEvent> {
    let resolve!: Pending['resolve'];
    let reject!: Pending['reject'];
    const promise = new Promise<TrackedEvent>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers who do not await still hear of failures through onError.
    promise.catch(() => undefined);
    const invalid = this.closed ? new UsageError('The tracker was shut down.', { code: 'shutdown' }) : validate(event);
    const wire = invalid ? null : toWire(event);
    const pending: Pending = {
      event,
      wire: wire!,
      bytes: wire ? JSON.stringify(wire).length + 1 : 0,
      attempts: 0,
      queuedAt: Date.now(),
      inFlight: false,
      done: promise.then(
        () => undefined,
        () => undefined,
      ),
      resolve,
      reject,
    };
    if (invalid) {
      this.fail(pending, invalid);
      return promise;
    }
    this.queue.push(pending);
    live.add(this);
    if (this.pending > this.options.maxQueueSize) {
      // Overflow policy: the oldest event still waiting is dropped, so the newest usage
      // (and whatever is already on the wire) goes through.
      const dropped = this.queue.shift();
      if (dropped) this.fail(dropped, new UsageError(`The queue is full (${this.options.maxQueueSize} events): the oldest waiting event was dropped.`, { code: 'queue-overflow' }));
    }
    this.schedule();
    return promise;
  }

  /** Sends everything queued now and resolves when each event queued before the call is settled. */
  async flush(): Promise<void> {
    const settled = [...this.queue, ...this.inFlight].map((p) => p.done);
    if (settled.length === 0) return;
    this.draining++;
    this.schedule();
    try {
      await Promise.all(settled);
    } finally {
      this.draining--;
      this.schedule();
    }
  }

  /**
   * Stops taking events (new ones reject with code `shutdown`), delivers what is queued,
   * and after `timeoutMs` (default 10 s) gives up on the rest with code `shutdown`.
   */
  async shutdown({ timeoutMs = 10_000 }: { timeoutMs?: number } = {}): Promise<void> {
    this.closed = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    for (const pending of this.queue.splice(0)) this.fail(pending, new UsageError('The tracker was shut down before this event was delivered.', { code: 'shutdown' }));
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Usage against the limit, from the live counter; records nothing. */
  async checkUsage(input: { userId: string; eventName: string; value?: number | string }): Promise<UsageCheck> {
    const query = new URLSearchParams({ user_id: input.userId, event_name: input.eventName });
    if (input.value !== undefined) query.set('value', String(input.value));
    const answer = await this.request('GET', `/api/usage/check?${query}`);
    if (answer.status !== 200) throw errorFromProblem(answer.status, answer.body);
    return answer.body as UsageCheck;
  }

  /** Hears of every commit and hard-cap refusal this tracker sees; returns the unsubscribe. */
  subscribe(listener: (update: UsageUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Page hide: everything waiting goes out now in keepalive requests, backoff or not. */
  sendBeforeUnload(): void {
    for (;;) {
      const batch = this.take(KEEPALIVE_BYTES, true);
      if (batch.length === 0) return;
      void this.send(batch, true);
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.queue.length === 0) {
      if (this.inFlight.size === 0) live.delete(this);
      return;
    }
    if (this.sending) return; // the send loop picks the queue up when its request ends
    const now = Date.now();
    const due =
      this.backoffUntil > now
        ? this.backoffUntil
        : this.draining > 0 || this.queue.length >= this.options.maxBatchSize
          ? now
          : this.queue[0]!.queuedAt + this.options.flushInterval;
    this.timer = setTimeout(() => void this.pump(), Math.max(0, due - now));
    // A waiting batch does not keep a Node process alive; flush() and beforeExit do.
    if (this.draining === 0) (this.timer as { unref?: () => void }).unref?.();
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (Date.now() >= this.backoffUntil) {
        const batch = this.take(isBrowser() ? KEEPALIVE_BYTES : MAX_BATCH_BYTES, false);
        if (batch.length === 0) break;
        await this.send(batch, isBrowser());
      }
    } finally {
      this.sending = false;
      this.schedule();
    }
  }

  /** The next batch off the front of the queue, by count and size. */
  private take(maxBytes: number, all: boolean): Pending[] {
    const batch: Pending[] = [];
    let bytes = 2;
    while (this.queue.length > 0 && batch.length < this.options.maxBatchSize) {
      const next = this.queue[0]!;
      if (batch.length > 0 && bytes + next.bytes > maxBytes) break;
      if (!all && batch.length === 0 && next.bytes > maxBytes) break;
      bytes += next.bytes;
      batch.push(this.queue.shift()!);
    }
    for (const pending of batch) {
      pending.inFlight = true;
      pending.attempts++;
      this.inFlight.add(pending);
    }
    return batch;
  }

  private async send(batch: Pending[], keepalive: boolean): Promise<void> {
    let answer: Answer;
    try {
      answer = await this.request('POST', '/api/usage/track', batch.map((p) => p.wire), keepalive);
    } catch (error) {
      const usageError = error instanceof UsageError ? error : new UsageError(`Could not reach ${this.baseURL}: ${describe(error)}`, { code: 'network', cause: error });
      if (usageError.code === 'no-credentials') return this.settleAll(batch, usageError);
      return this.retry(batch, usageError);
    }
    const results = (answer.body as { results?: Array<{ index: number; status: number; event?: TrackedEvent; error?: Problem }> } | null)?.results;
    if (answer.status === 200 && Array.isArray(results)) {
      this.failures = 0;
      const again: Pending[] = [];
      let retryAfterMs: number | undefined;
      batch.forEach((pending, index) => {
        const result = results.find((r) => r.index === index);
        if (!result) again.push(pending);
        else if (result.status === 201 && result.event) this.commit(pending, result.event);
        else if (RETRYABLE(result.status)) {
          pending.lastError = errorFromProblem(result.status, result.error);
          retryAfterMs = Math.max(retryAfterMs ?? 0, numberOr(result.error?.retry_after, 0) * 1000);
          again.push(pending);
        } else this.fail(pending, errorFromProblem(result.status, result.error));
      });
      if (again.length > 0) this.retry(again, undefined, retryAfterMs);
      return;
    }
    if (RETRYABLE(answer.status)) return this.retry(batch, errorFromProblem(answer.status, answer.body), answer.retryAfterMs);
    this.settleAll(batch, errorFromProblem(answer.status, answer.body));
  }

  /** Puts a failed batch back at the front of the queue, after a backoff; gives up on events out of attempts. */
  private retry(batch: Pending[], error: UsageError | undefined, retryAfterMs?: number): void {
    this.failures++;
    const step = Math.min(this.options.retryMaxDelay, this.options.retryBaseDelay * 2 ** (this.failures - 1));
    // Equal jitter: half the step, plus up to the other half at random, so clients that
    // failed together do not come back together.
    const backoff = step / 2 + Math.random() * (step / 2);
    const wait = Math.max(backoff, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
    this.backoffUntil = Math.max(this.backoffUntil, Date.now() + wait);
    const keep: Pending[] = [];
    for (const pending of batch) {
      this.inFlight.delete(pending);
      pending.inFlight = false;
      const reason = error ?? pending.lastError ?? new UsageError('The server did not answer for this event.', { code: 'network' });
      pending.lastError = reason;
      if (pending.attempts > this.options.maxRetries) this.fail(pending, reason);
      else keep.push(pending);
    }
    this.queue.unshift(...keep);
  }

  private settleAll(batch: Pending[], error: UsageError): void {
    for (const pending of batch) this.fail(pending, error);
  }

  private commit(pending: Pending, tracked: TrackedEvent): void {
    this.inFlight.delete(pending);
    pending.resolve(tracked);
    this.emit({ userId: tracked.user_id, eventName: tracked.event_name, ...tracked.usage, exceeded: false });
  }

  private fail(pending: Pending, error: UsageError): void {
    this.inFlight.delete(pending);
    pending.reject(error);
    if (error instanceof QuotaExceededError) {
      this.emit({ userId: pending.event.userId, eventName: pending.event.eventName, used: error.used, limit: error.limit, remaining: error.remaining, period_end: error.period_end, exceeded: true });
    }
    try {
      if (this.options.onError) this.options.onError(error, pending.event);
      else warnOnce(`event-${error.code}`, `An event was not recorded (${error.code}): ${error.message} Pass onError to handle this; further "${error.code}" errors are not logged.`);
    } catch {
      // An onError that throws must not stop the queue.
    }
  }

  private emit(update: UsageUpdate): void {
    for (const listener of this.listeners) {
      try {
        listener(update);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /** One HTTP exchange with the bearer credential; a 401 on a cached token asks getToken once more. */
  private async request(method: 'GET' | 'POST', path: string, body?: unknown, keepalive = false, retried = false): Promise<Answer> {
    const bearer = await this.credentials.bearer();
    const controller = typeof AbortController === 'function' ? new AbortController() : undefined;
    const timer = controller ? setTimeout(() => controller.abort(), this.options.timeout) : undefined;
    let response: Response;
    let text: string;
    try {
      const doFetch = this.options.fetch ?? fetch;
      response = await doFetch(this.baseURL + path, {
        method,
        headers: { authorization: `Bearer ${bearer}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller?.signal,
        keepalive,
      });
      text = await response.text();
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 401 && this.credentials.kind === 'token' && !retried) {
      this.credentials.invalidate();
      return this.request(method, path, body, keepalive, true);
    }
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: response.status, body: parsed, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) };
  }
}

function validate(event: TrackEvent): UsageError | null {
  const bad = (message: string) => new UsageError(message, { code: 'invalid-event' });
  if (!event || typeof event !== 'object') return bad('trackUsage takes an object: { userId, eventName, value?, properties? }.');
  if (typeof event.userId !== 'string' || event.userId === '') return bad('userId must be a non-empty string.');
  if (typeof event.eventName !== 'string' || event.eventName === '') return bad('eventName must be a non-empty string.');
  if (event.value !== undefined && !(typeof event.value === 'string' || (typeof event.value === 'number' && Number.isFinite(event.value) && event.value >= 0))) {
    return bad('value must be a finite number ≥ 0 or a decimal string.');
  }
  if (event.properties !== undefined && (typeof event.properties !== 'object' || event.properties === null || Array.isArray(event.properties))) {
    return bad('properties must be a JSON object.');
  }
  return null;
}

/** The event as sent: fixed here, so every retry carries exactly the same payload and key. */
function toWire(event: TrackEvent): WireEvent {
  const timestamp = event.timestamp instanceof Date ? event.timestamp.toISOString() : event.timestamp ?? (isBrowser() ? undefined : new Date().toISOString());
  return {
    event_name: event.eventName,
    user_id: event.userId,
    ...(event.value === undefined ? {} : { value: event.value }),
    ...(event.properties === undefined ? {} : { properties: event.properties }),
    ...(timestamp === undefined ? {} : { timestamp }),
    idempotency_key: event.idempotencyKey ?? uuidv7(),
  };
}

function parseRetryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

const numberOr = (value: unknown, fallback: number) => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);

function describe(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'AbortError') return 'the request timed out';
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? error.message;
  }
  return String(error);
}
