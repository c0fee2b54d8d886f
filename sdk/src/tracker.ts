import { v7 as uuidv7 } from 'uuid';
import { Credentials, type TokenResult } from './credentials';
import { isBrowser, nodeProcess, warnOnce } from './env';
import { QuotaExceededError, UsageError, errorFromProblem, redirectError, type Problem } from './errors';
import type { UsageCheckOutput, UsageTrackOutput } from './router.generated';

/** One usage event, as the seed's `trackUsage` takes it. */
export type TrackEvent = {
  /** Your customer's id (1–256 characters). */
  userId: string;
  /** A meter's `event_name`. */
  eventName: string;
  /**
   * Default 1. A number, or a decimal string for values a double cannot hold exactly.
   * The server takes at most 9 decimal places: a number with more (`0.1 + 0.2`, a
   * duration from `performance.now()`) is rounded to 9, to nearest (half-up).
   */
  value?: number | string;
  /** A JSON object of at most 8 KB. */
  properties?: Record<string, unknown>;
  /**
   * When the usage happened. Default: when `trackUsage` was called (server side), or when
   * the server received it (browser, or server side with your own `idempotencyKey`).
   */
  timestamp?: Date | string;
  /**
   * Your own key for this event. Default: a UUIDv7 made when `trackUsage` is called.
   * Calling `trackUsage` again with the same key and the same fields is recognised as the
   * same event (answered from the first one's record, never counted twice).
   */
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
  /** An event was refused for the hard cap (it may have been larger than what is left: see `remaining`). */
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
  /** A request (or a `getToken` call) that has not answered in this long is aborted and retried. Default 10 s; 0: no timeout. */
  timeout?: number;
  /**
   * Called for every event that is not recorded, with the same error its promise rejects
   * with, and the event as it was sent (its `idempotencyKey` and `timestamp` included):
   * tracking that object again is the same event, answered from the server's record if
   * the server did record it after all.
   */
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
  /** UTF-8 bytes of the event's JSON. */
  bytes: number;
  /** Times it was sent (a 413 split aside): its backoff step follows them, whichever batches carried it. */
  attempts: number;
  /** Not sent again before this (monotonic ms): its own backoff after a failed attempt. */
  retryAt: number;
  queuedAt: number;
  inFlight: boolean;
  /** Resolved or rejected: a late answer for it (after shutdown aborted it) changes nothing. */
  settled: boolean;
  /** At most this many events in its next request: set when a batch with it was too large for the server. */
  batchLimit?: number;
  lastError?: UsageError;
  done: Promise<unknown>;
  resolve: (tracked: TrackedEvent) => void;
  reject: (error: UsageError) => void;
};

type Answer = { status: number; body: unknown; retryAfterMs?: number };
/** One event's entry in the answer to a batch. */
type BatchResult = { index: number; status: number; event?: TrackedEvent; error?: Problem };

const isBatchResult = (value: unknown): value is BatchResult =>
  typeof value === 'object' && value !== null && Number.isInteger((value as BatchResult).index) && Number.isInteger((value as BatchResult).status);

const MAX_SERVER_BATCH = 1000;
/** The server takes 1 MiB of body (bytes, not characters); stay well under it. */
const MAX_BATCH_BYTES = 900_000;
/**
 * The Fetch standard fails a keepalive request when its body and those of the page's other
 * keepalive requests in flight pass 64 KiB; the SDK keeps its own under this, leaving the
 * page some room. Keepalive requests are what outlives a closing page.
 */
const KEEPALIVE_BYTES = 60_000;
const encoder = new TextEncoder();
const byteLength = (text: string) => encoder.encode(text).length;
const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** Failures without an answer that sending again cannot mend: the batch's events are rejected at once. */
const FINAL_CODES = new Set(['no-credentials', 'shutdown', 'token-user-mismatch', 'redirected']);
const RETRYABLE = (status: number) => status === 408 || status === 425 || status === 429 || status >= 500;

/** What the process-exit and page-hide hooks need of a tracker (of this copy of the SDK or another). */
type LiveTracker = { readonly pending: number; flush(): Promise<void>; sendBeforeUnload(): void; shutdown?(options?: { timeoutMs?: number }): Promise<void> };
/**
 * One per page or process, whichever copies of the SDK are loaded (the ESM and CJS builds,
 * two bundled copies), on `globalThis` as the default tracker is: with one set of hooks per
 * copy, each copy's SIGTERM handler took the other's for the app's own and left the exit to
 * it — and the process never ended; and each copy counted only its own keepalive bytes
 * against the page's one quota.
 */
type TrackerHooks = {
  /** Trackers with events to deliver. */
  live: Set<LiveTracker>;
  /** The windows (pagehide) and processes (exit, signals) hooked already. */
  hooked: WeakSet<object>;
  /** Bytes of the SDK's keepalive bodies in flight, for the whole page (the quota is the page's, not a tracker's). */
  keepaliveInFlight: number;
};
const HOOKS = Symbol.for('@staryer/usage-sdk/tracker-hooks');
const hooks: TrackerHooks = ((globalThis as unknown as Record<symbol, TrackerHooks | undefined>)[HOOKS] ??= { live: new Set(), hooked: new WeakSet(), keepaliveInFlight: 0 });
const live = hooks.live;
/** How long a SIGTERM or SIGINT waits for queued events to be sent before the process ends (a container gets 10 s). */
const SIGNAL_FLUSH_MS = 5_000;

function installHooks(): void {
  const target: object | undefined = isBrowser() ? window : nodeProcess();
  if (!target || hooks.hooked.has(target)) return;
  hooks.hooked.add(target);
  if (isBrowser()) {
    // The last moment a page reliably runs code: send what is queued with keepalive
    // requests, which the browser completes after the page is gone.
    const hide = () => {
      for (const tracker of live) tracker.sendBeforeUnload();
    };
    // Optional calls: a `window` stand-in without events (a server-side shim) has no page to hide.
    window.addEventListener?.('pagehide', hide);
    document.addEventListener?.('visibilitychange', () => {
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
  // A signal (docker stop, a deploy, Ctrl-C) skips beforeExit: Node's default is to end at
  // once, losing what is queued. While nothing else listens for it, what is queued is sent
  // first (for SIGNAL_FLUSH_MS at most), then the process ends as the signal would have ended
  // it. An app with a handler of its own decides when to exit: what is queued is sent meanwhile.
  const proc = nodeProcess();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      const ownHandler = (proc?.listenerCount?.(signal) ?? 0) > 1;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const flushed = Promise.all([...live].map((t) => t.flush()));
      void Promise.race([flushed, new Promise<void>((resolve) => (timer = setTimeout(resolve, SIGNAL_FLUSH_MS)))]).finally(async () => {
        clearTimeout(timer);
        if (ownHandler || proc?.pid === undefined) return;
        // Ended by its signal, the process never emits 'exit': what is still queued or in flight
        // is settled here — warned of, each promise rejected and onError told (code `shutdown`) —
        // and their handlers get a turn before the signal ends the process.
        const lost = [...live].reduce((n, t) => n + t.pending, 0);
        if (lost > 0) warnOnce('exit', lostWarning(lost));
        await Promise.all([...live].map((t) => t.shutdown?.({ timeoutMs: 0 }).catch(() => undefined)));
        await new Promise((resolve) => setTimeout(resolve, 0));
        proc.removeListener?.(signal, onSignal);
        proc.kill?.(proc.pid, signal);
      });
    };
    // First in line: an app's handler registered with once() (close-with-grace and the like)
    // is removed just before Node calls it, so counted after it ran, the app's own handler was
    // missed and the signal raised again at once, cutting the app's graceful stop short.
    if (proc?.prependListener) proc.prependListener(signal, onSignal);
    else proc?.on?.(signal, onSignal);
  }
  // process.exit() skips beforeExit, and nothing asynchronous runs after 'exit': what is
  // still queued is lost. Say so rather than lose it silently.
  nodeProcess()?.once?.('exit', () => {
    const lost = [...live].reduce((n, t) => n + t.pending, 0);
    if (lost > 0) warnOnce('exit', lostWarning(lost));
  });
}

const lostWarning = (lost: number) =>
  `${lost} event(s) were not delivered: the process exited (process.exit(), or a signal not answered within ${SIGNAL_FLUSH_MS / 1000} s) before they were sent. Await trackUsage(), flush() or shutdown() before exiting.`;

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
  /** One per request in flight: shutdown aborts them. */
  private readonly controllers = new Set<AbortController>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sending = false;
  private draining = 0;
  /** No new events (shutdown called). */
  private closed = false;
  /** Nothing more is sent (shutdown returned). */
  private stopped = false;
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
      // NaN (a value parsed from a missing setting) falls back to the default, rather than
      // send nothing (maxBatchSize) or abort every request (timeout); delays stay within
      // what setTimeout takes (past 2^31 − 1 ms it fires at once).
      flushInterval: numberOption(options.flushInterval, 250, 0, MAX_DELAY),
      maxBatchSize: Math.floor(numberOption(options.maxBatchSize, 100, 1, MAX_SERVER_BATCH)),
      maxQueueSize: Math.floor(numberOption(options.maxQueueSize, 10_000, 1, Infinity)),
      maxRetries: Math.floor(numberOption(options.maxRetries, 8, 0, Infinity)),
      retryBaseDelay: numberOption(options.retryBaseDelay, 500, 0, MAX_DELAY),
      retryMaxDelay: numberOption(options.retryMaxDelay, 30_000, 0, MAX_DELAY),
      timeout: numberOption(options.timeout, 10_000, 0, MAX_DELAY),
      onError: options.onError,
      fetch: options.fetch,
    };
    this.credentials = new Credentials({ ...options, timeout: this.options.timeout > 0 ? this.options.timeout : undefined });
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
    let invalid = this.closed ? new UsageError('The tracker was shut down.', { code: 'shutdown' }) : validate(event);
    let wire: WireEvent | null = null;
    let bytes = 0;
    if (!invalid) {
      try {
        // A copy, made now: the caller may change (or reuse) its properties object before
        // the event is sent, and every attempt must carry what was tracked — the same key
        // with another payload is refused (422), and a reused object would send the last values.
        const json = JSON.stringify(toWire(event));
        wire = JSON.parse(json) as WireEvent;
        bytes = byteLength(json);
      } catch (cause) {
        invalid = new UsageError(`properties must be JSON (no BigInt, no cycles): ${cause instanceof Error ? cause.message : String(cause)}`, { code: 'invalid-event', cause });
      }
    }
    // Refused here, or it would wait at the head of the queue for a request it fits in.
    if (bytes + 2 > MAX_BATCH_BYTES) {
      invalid = new UsageError(`The event is ${bytes} bytes of JSON, more than one request may carry (${MAX_BATCH_BYTES}); properties may hold at most 8 KB.`, { code: 'payload-too-large' });
    }
    const pending: Pending = {
      event,
      wire: wire!,
      bytes,
      attempts: 0,
      retryAt: 0,
      queuedAt: monotonicNow(),
      inFlight: false,
      settled: false,
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
      // Overflow policy: the oldest event never sent is dropped, so the newest usage goes
      // through — not one already tried (waiting for a retry), which the server may have
      // recorded: that one is seen through to its answer.
      const index = this.queue.findIndex((p) => p.attempts === 0);
      const [dropped] = index >= 0 ? this.queue.splice(index, 1) : [];
      if (dropped) this.fail(dropped, new UsageError(`The queue is full (${this.options.maxQueueSize} events): the oldest event not yet sent was dropped.`, { code: 'queue-overflow' }));
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
   * and after `timeoutMs` (default 10 s) gives up on the rest with code `shutdown`:
   * requests still in flight are aborted (the server may have recorded their events), and
   * nothing is sent once it has returned.
   */
  async shutdown({ timeoutMs = 10_000 }: { timeoutMs?: number } = {}): Promise<void> {
    this.closed = true;
    // As the options read numbers: NaN takes the default; Infinity (or past what setTimeout
    // takes, where it would fire at once and give up on everything) waits for the flush.
    const limit = numberOption(timeoutMs, 10_000, 0, Infinity);
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (limit > MAX_DELAY) await this.flush();
    else await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, limit)))]);
    clearTimeout(timer);
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // An event sent before (its answer lost, waiting for a retry) may be recorded: it is told so, as one in flight is.
    const mayBeRecorded = (what: string) => new UsageError(`The tracker was shut down ${what}; the server may or may not have recorded it. Track error.event again to be sure (it is never counted twice).`, { code: 'shutdown' });
    for (const pending of this.queue.splice(0)) {
      this.fail(pending, pending.attempts > 0 ? mayBeRecorded('while this event waited to be sent again') : new UsageError('The tracker was shut down before this event was sent.', { code: 'shutdown' }));
    }
    for (const pending of [...this.inFlight]) this.fail(pending, mayBeRecorded('while this event was being sent'));
    for (const controller of this.controllers) controller.abort();
    live.delete(this);
  }

  /** Usage against the limit, from the live counter; records nothing. Rejects with a {@link UsageError}. */
  async checkUsage(input: CheckInput): Promise<UsageCheck> {
    const invalid = validateCheck(input);
    if (invalid) throw invalid;
    const query = checkQuery(input);
    let answer: Answer;
    try {
      answer = await this.request('GET', `/api/usage/check?${query}`, { userId: input.userId });
    } catch (error) {
      throw toUsageError(error, this.baseURL);
    }
    if (answer.status !== 200) throw errorFromProblem(answer.status, answer.body);
    return answer.body as UsageCheck;
  }

  /** Hears of every commit and hard-cap refusal this tracker sees; returns the unsubscribe. */
  subscribe(listener: (update: UsageUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Page hide: what is waiting goes out now, backoff or not, in keepalive requests — as
   * much as the page's keepalive quota holds. The rest stays queued: the page may live on
   * (a hidden tab), and a plain request started now would die with a closing page anyway.
   */
  sendBeforeUnload(): void {
    while (!this.stopped) {
      const { batch, bytes } = this.take(KEEPALIVE_BYTES - hooks.keepaliveInFlight, false, Infinity);
      if (batch.length === 0) return;
      void this.send(batch, bytes).finally(() => this.schedule());
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    if (this.queue.length === 0) {
      if (this.inFlight.size === 0) live.delete(this);
      return;
    }
    if (this.sending) return; // the send loop picks the queue up when its request ends
    const now = monotonicNow();
    // Events in their own backoff wait for it; the others go as usual.
    let ready = 0;
    let oldestReady: Pending | undefined;
    let nextRetry = Infinity;
    for (const pending of this.queue) {
      if (pending.retryAt > now) nextRetry = Math.min(nextRetry, pending.retryAt);
      else if (ready++ === 0) oldestReady = pending;
    }
    const readyDue = !oldestReady ? Infinity : this.draining > 0 || ready >= this.options.maxBatchSize ? now : oldestReady.queuedAt + this.options.flushInterval;
    const due = Math.max(this.backoffUntil, Math.min(readyDue, nextRetry));
    this.timer = setTimeout(() => void this.pump(), Math.max(0, due - now));
    // A waiting batch does not keep a Node process alive; flush() and beforeExit do.
    if (this.draining === 0) (this.timer as { unref?: () => void }).unref?.();
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (!this.stopped && monotonicNow() >= this.backoffUntil) {
        const browser = isBrowser();
        const { batch, bytes } = this.take(browser ? KEEPALIVE_BYTES : MAX_BATCH_BYTES, true, monotonicNow());
        if (batch.length === 0) break;
        // In a browser a request is keepalive (it outlives the page) when the quota has room
        // for it; otherwise it goes as a plain request rather than fail.
        await this.send(batch, browser && bytes <= KEEPALIVE_BYTES - hooks.keepaliveInFlight ? bytes : 0);
      }
    } finally {
      this.sending = false;
      this.schedule();
    }
  }

  /**
   * The next batch off the front of the queue, by count and by UTF-8 bytes of the body
   * (`[`, the events, their commas, `]`). An event larger than `maxBytes` on its own goes
   * alone when `oversizeAlone`, else it waits. With a user token, a batch holds the events
   * of one user (the first waiting one's), each user's in the order tracked: a token acts
   * for its own user only. Events whose own backoff ends after `now` stay queued.
   */
  private take(maxBytes: number, oversizeAlone: boolean, now: number): { batch: Pending[]; bytes: number } {
    const batch: Pending[] = [];
    let bytes = 1;
    let limit = this.options.maxBatchSize;
    const user = this.credentials.kind === 'token' ? this.queue.find((p) => p.retryAt <= now)?.wire.user_id : undefined;
    for (let i = 0; i < this.queue.length && batch.length < limit; ) {
      const next = this.queue[i]!;
      if (next.retryAt > now || (user !== undefined && next.wire.user_id !== user)) {
        i++;
        continue;
      }
      if (batch.length === 0) limit = Math.min(limit, next.batchLimit ?? limit);
      if (bytes + next.bytes + 1 > maxBytes && !(batch.length === 0 && oversizeAlone)) break;
      bytes += next.bytes + 1;
      batch.push(...this.queue.splice(i, 1));
    }
    for (const pending of batch) {
      pending.inFlight = true;
      pending.attempts++;
      this.inFlight.add(pending);
    }
    return { batch, bytes };
  }

  /**
   * Sends one batch; `keepaliveBytes` > 0 sends it keepalive, holding that much of the
   * page's quota until it ends. Never rejects: should reading the answer fail in a way
   * not foreseen, the batch's unsettled events are sent again rather than left in flight.
   */
  private async send(batch: Pending[], keepaliveBytes = 0): Promise<void> {
    try {
      await this.sendBatch(batch, keepaliveBytes);
    } catch (error) {
      this.retry(batch.filter((p) => p.inFlight), new UsageError(`The answer to a batch could not be read: ${describe(error)}`, { code: 'network', cause: error }), undefined, true);
    }
  }

  private async sendBatch(batch: Pending[], keepaliveBytes: number): Promise<void> {
    let answer: Answer;
    hooks.keepaliveInFlight += keepaliveBytes;
    try {
      answer = await this.request('POST', '/api/usage/track', { body: batch.map((p) => p.wire), keepalive: keepaliveBytes > 0, userId: batch[0]!.wire.user_id });
    } catch (error) {
      const usageError = toUsageError(error, this.baseURL);
      if (FINAL_CODES.has(usageError.code)) return this.settleAll(batch, usageError);
      return this.retry(batch, usageError, undefined, true);
    } finally {
      hooks.keepaliveInFlight -= keepaliveBytes;
    }
    if (answer.status === 413 && batch.length > 1) {
      // The body was too large for the server after all: split the batch rather than lose
      // it. Halving is not an attempt; a single event that is too large is refused.
      const half = Math.ceil(batch.length / 2);
      for (const pending of batch) {
        this.inFlight.delete(pending);
        pending.inFlight = false;
        pending.attempts--;
        pending.batchLimit = Math.min(pending.batchLimit ?? half, half);
      }
      this.queue.unshift(...batch.filter((p) => !p.settled));
      return;
    }
    const results = (answer.body as { results?: unknown } | null)?.results;
    if (answer.status === 200 && Array.isArray(results)) {
      this.failures = 0;
      // An entry that is not a result (null, a proxy's rewrite) answers for no event: its
      // event is sent again, like one the answer leaves out, never left in flight.
      const byIndex = new Map<number, BatchResult>();
      for (const result of results) if (isBatchResult(result) && !byIndex.has(result.index)) byIndex.set(result.index, result);
      const again: Pending[] = [];
      let retryAfterMs: number | undefined;
      batch.forEach((pending, index) => {
        const result = byIndex.get(index);
        if (!result) again.push(pending);
        else if (result.status === 201 && typeof result.event === 'object' && result.event !== null) this.commit(pending, result.event);
        else if (RETRYABLE(result.status)) {
          pending.lastError = errorFromProblem(result.status, result.error);
          retryAfterMs = Math.max(retryAfterMs ?? 0, numberOr(result.error?.retry_after, 0) * 1000);
          again.push(pending);
        } else this.fail(pending, errorFromProblem(result.status, result.error));
      });
      // Every event of a batch of several to send again (none committed or refused): the
      // server is struggling as much as when it failed the whole request, and the queue
      // waits too. One event failing alone, or beside others that went through, waits alone.
      if (again.length > 0) this.retry(again, undefined, retryAfterMs, batch.length > 1 && again.length === batch.length);
      return;
    }
    // A 200 without results (cut short, or changed by a proxy) may stand for events the
    // server committed: sent again, they are answered from its record.
    if (RETRYABLE(answer.status) || answer.status === 200) return this.retry(batch, errorFromProblem(answer.status, answer.body), answer.retryAfterMs, true);
    this.settleAll(batch, errorFromProblem(answer.status, answer.body));
  }

  /**
   * Puts failed events back at the front of the queue, each after its own backoff (its
   * attempts so far set the step, whichever batches carried it); gives up on events out of
   * attempts. `wholeRequest` (no answer for any event of it): the whole queue waits as well,
   * so a struggling server is not sent new events either, for the longer of the tracker's
   * count of requests failed in a row and the batch's events' own steps; the batch's events
   * wait exactly as long, and go out again together, in order. An event failing on its own
   * waits alone; the others go on.
   */
  private retry(batch: Pending[], error: UsageError | undefined, retryAfterMs: number | undefined, wholeRequest: boolean): void {
    const now = monotonicNow();
    if (wholeRequest) {
      this.failures++;
      const steps = Math.max(this.failures, ...batch.map((p) => (p.settled ? 0 : p.attempts)));
      this.backoffUntil = Math.max(this.backoffUntil, now + this.backoff(steps, retryAfterMs));
    }
    const keep: Pending[] = [];
    for (const pending of batch) {
      if (pending.settled) continue;
      this.inFlight.delete(pending);
      pending.inFlight = false;
      const reason = error ?? pending.lastError ?? new UsageError('The server did not answer for this event.', { code: 'network' });
      pending.lastError = reason;
      if (pending.attempts > this.options.maxRetries) this.fail(pending, reason);
      else {
        pending.retryAt = wholeRequest ? this.backoffUntil : now + this.backoff(pending.attempts, retryAfterMs);
        keep.push(pending);
      }
    }
    this.queue.unshift(...keep);
  }

  /** The wait after the `failed`-th failure in a row: the step doubles from retryBaseDelay up to retryMaxDelay, with equal jitter; at least Retry-After. */
  private backoff(failed: number, retryAfterMs: number | undefined): number {
    const step = Math.min(this.options.retryMaxDelay, this.options.retryBaseDelay * 2 ** (Math.max(1, failed) - 1));
    // Equal jitter: half the step, plus up to the other half at random, so clients that
    // failed together do not come back together.
    const backoff = step / 2 + Math.random() * (step / 2);
    return Math.max(backoff, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
  }

  private settleAll(batch: Pending[], error: UsageError): void {
    for (const pending of batch) this.fail(pending, error);
  }

  private commit(pending: Pending, tracked: TrackedEvent): void {
    if (pending.settled) return;
    pending.settled = true;
    this.inFlight.delete(pending);
    pending.resolve(tracked);
    this.emit({ userId: tracked.user_id, eventName: tracked.event_name, ...tracked.usage, exceeded: false });
  }

  private fail(pending: Pending, shared: UsageError): void {
    if (pending.settled) return;
    pending.settled = true;
    this.inFlight.delete(pending);
    const wire = pending.wire;
    // As sent, from the copy made when it was tracked (the caller's properties object may
    // have changed since): tracked again, it is the same event (same key, same timestamp).
    const sent: TrackEvent = wire
      ? {
          eventName: wire.event_name,
          userId: wire.user_id,
          ...(wire.value === undefined ? {} : { value: wire.value }),
          ...(wire.properties === undefined ? {} : { properties: wire.properties }),
          ...(wire.timestamp === undefined ? {} : { timestamp: wire.timestamp }),
          idempotencyKey: wire.idempotency_key,
        }
      : pending.event;
    // One error may stand for a whole request's events: each gets its own copy, with its key
    // and the event as sent (what an awaiting caller tracks again after an unclear failure).
    const error = wire ? withEvent(shared, sent, wire.idempotency_key) : shared;
    pending.reject(error);
    if (error instanceof QuotaExceededError) {
      this.emit({ userId: pending.event.userId, eventName: pending.event.eventName, used: error.used, limit: error.limit, remaining: error.remaining, period_end: error.period_end, exceeded: true });
    }
    try {
      if (this.options.onError) this.options.onError(error, sent);
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

  /**
   * One HTTP exchange with the bearer credential (a user token for `userId`, the user the
   * request is about); a 401 on a cached token asks getToken once more.
   */
  private async request(method: 'GET' | 'POST', path: string, { body, keepalive = false, userId }: { body?: unknown; keepalive?: boolean; userId: string }, retried = false): Promise<Answer> {
    const bearer = await this.credentials.bearer(userId);
    if (this.stopped) throw new UsageError('The tracker was shut down.', { code: 'shutdown' });
    const controller = typeof AbortController === 'function' ? new AbortController() : undefined;
    // 0: no timeout (as Node's http and fetch libraries read it), not "abort at once".
    const timer = controller && this.options.timeout > 0 ? setTimeout(() => controller.abort(), this.options.timeout) : undefined;
    if (controller) this.controllers.add(controller);
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
        redirect: 'manual',
      });
      const redirected = redirectError(response, this.baseURL);
      if (redirected) {
        await response.body?.cancel().catch(() => undefined);
        throw redirected;
      }
      text = await response.text();
    } catch (error) {
      if (this.stopped) throw new UsageError('The tracker was shut down while the request was in flight.', { code: 'shutdown', cause: error });
      throw error;
    } finally {
      clearTimeout(timer);
      if (controller) this.controllers.delete(controller);
    }
    if (response.status === 401 && this.credentials.kind === 'token' && !retried) {
      this.credentials.invalidate(bearer);
      return this.request(method, path, { body, keepalive, userId }, true);
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
  if (event.timestamp !== undefined && !(typeof event.timestamp === 'string' || (event.timestamp instanceof Date && !Number.isNaN(event.timestamp.getTime())))) {
    return bad('timestamp must be a valid Date or an RFC 3339 string.');
  }
  return null;
}

/**
 * What `checkUsage` asks about: would an event of `value` (default 1) be taken now? With the
 * `properties` the event would carry, a unique meter counting a property knows whether its
 * value is new this period (a value already counted is always taken); without them it assumes
 * a new one.
 */
export type CheckInput = { userId: string; eventName: string; value?: number | string; properties?: Record<string, unknown> };

/**
 * What `checkUsage` is asked, checked as `trackUsage` checks an event: a missing userId
 * (`req.user?.id` undefined) would otherwise ask about a customer named "undefined" — no
 * plan, so "allowed" — and let usage through a quota gate.
 */
export function validateCheck(input: CheckInput): UsageError | null {
  if (!input || typeof input !== 'object') return new UsageError('checkUsage takes an object: { userId, eventName, value?, properties? }.', { code: 'invalid-event' });
  return validate({
    userId: input.userId,
    eventName: input.eventName,
    ...(input.value === undefined ? {} : { value: input.value }),
    ...(input.properties === undefined ? {} : { properties: input.properties }),
  });
}

/** The check's query string, as the server reads it (properties as JSON text). */
export function checkQuery(input: CheckInput): URLSearchParams {
  const query = new URLSearchParams({ user_id: input.userId, event_name: input.eventName });
  // Rounded as the tracker rounds it (the server refuses more than 9 decimal places),
  // and written out in full: "5e-7" is no decimal string.
  if (input.value !== undefined) query.set('value', toDecimalString(input.value));
  if (input.properties !== undefined) query.set('properties', JSON.stringify(input.properties));
  return query;
}

/**
 * The event as sent: fixed here, so every retry carries exactly the same payload and key.
 * No timestamp is made up where a later call must match this one: browsers (their clocks
 * may be off) and events with the caller's own key, which the caller may track again
 * after an unclear failure — a fresh timestamp would make that a different payload under
 * the same key (422). The server stamps those when it receives them.
 */
function toWire(event: TrackEvent): WireEvent {
  const stamp = !isBrowser() && event.idempotencyKey === undefined;
  const timestamp = event.timestamp instanceof Date ? event.timestamp.toISOString() : event.timestamp ?? (stamp ? new Date().toISOString() : undefined);
  return {
    event_name: event.eventName,
    user_id: event.userId,
    ...(event.value === undefined ? {} : { value: toWireValue(event.value) }),
    ...(event.properties === undefined ? {} : { properties: event.properties }),
    ...(timestamp === undefined ? {} : { timestamp }),
    idempotency_key: event.idempotencyKey ?? uuidv7(),
  };
}

/**
 * The server takes at most 9 decimal places, and a JSON number with more (0.1 + 0.2 is
 * 0.30000000000000004) is refused. Such a number is rounded to 9 places, to nearest with
 * ties up, as `toFixed(9)` rounds the double's exact value, and sent as a decimal string.
 */
export function toWireValue(value: number | string): number | string {
  if (typeof value !== 'number' || Number.isInteger(value)) return value;
  const rounded = value.toFixed(9).replace(/\.?0+$/, '');
  return Number(rounded) === value ? value : rounded;
}

/**
 * A value as a plain decimal string (a query parameter), rounded as {@link toWireValue}
 * rounds it: `String(0.0000005)` is "5e-7", which the server's decimal-string rule
 * refuses; this gives "0.0000005". Strings are sent as given.
 */
export function toDecimalString(value: number | string): string {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value); // for the server to refuse
  // toFixed writes exponents from 1e21 on; such integers are written out in full.
  if (Number.isInteger(value)) return Math.abs(value) < 1e21 ? value.toFixed(0) : BigInt(value).toString();
  return value.toFixed(9).replace(/\.?0+$/, '');
}

/** A copy of an error (a real Error of the same class, with its fields, message and stack) naming one event, as sent, and its key. */
function withEvent(error: UsageError, event: TrackEvent, idempotencyKey: string): UsageError {
  const copy = Reflect.construct(Error, [error.message], (Object.getPrototypeOf(error) as { constructor: new () => UsageError }).constructor) as UsageError;
  Object.defineProperties(copy, Object.getOwnPropertyDescriptors(error));
  copy.idempotencyKey = idempotencyKey;
  copy.event = event;
  return copy;
}

/** A failure without an answer, as the UsageError it stands for. */
function toUsageError(error: unknown, baseURL: string): UsageError {
  if (error instanceof UsageError) return error;
  if ((error as { name?: unknown } | null)?.name === 'AbortError') return new UsageError(`${baseURL} did not answer in time.`, { code: 'timeout', cause: error });
  return new UsageError(`Could not reach ${baseURL}: ${describe(error)}`, { code: 'network', cause: error });
}

function parseRetryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/**
 * Milliseconds on a clock that only moves forward, for waits (batching, backoff): the wall
 * clock may be set back (NTP, a suspended laptop), which would hold a retry for that long.
 */
const monotonicNow = (): number => (typeof performance !== 'undefined' && typeof performance.now === 'function' ? performance.now() : Date.now());

const numberOr = (value: unknown, fallback: number) => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);

/** Longest delay setTimeout takes (2^31 − 1 ms, ≈ 24.8 days); past it, it fires at once. */
export const MAX_DELAY = 2 ** 31 - 1;

/** A numeric option: `fallback` when not a number (undefined, NaN), else within [min, max] (Infinity: max). */
export function numberOption(value: unknown, fallback: number, min: number, max: number): number {
  if (typeof value !== 'number' || Number.isNaN(value)) return fallback;
  return Math.min(Math.max(value, min), max);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? error.message;
  }
  return String(error);
}
