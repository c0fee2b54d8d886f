import { warnOnce } from './env';
import { UsageError } from './errors';
import { UsageTracker, type CheckInput, type TrackEvent, type TrackedEvent, type UsageCheck, type UsageTrackingOptions } from './tracker';

/** What `useUsageTracking()` returns. */
export type UsageTrackingApi = {
  /** Tracks one event; see {@link trackUsage}. */
  trackUsage: (event: TrackEvent) => Promise<TrackedEvent>;
  /** An `api_calls` event of value 1 with properties `{ endpoint, method }`. */
  trackAPICall: (userId: string, endpoint: string, method: string) => Promise<TrackedEvent>;
  /** A `feature_usage` event whose value is the seconds spent, with properties `{ feature }`. */
  trackFeatureUsage: (userId: string, feature: string, seconds: number) => Promise<TrackedEvent>;
  /** Sends what is queued now; resolves when it is settled. */
  flush: () => Promise<void>;
};

type SharedState = {
  tracker: UsageTracker | null;
  hook: (() => UsageTrackingApi) | null;
  /** Whether React is rendering now (undefined: cannot tell); set with `hook`. */
  isRendering?: (() => boolean | undefined) | null;
  /** Told when the default tracker is replaced (hooks that use it render again). */
  listeners?: Set<() => void>;
};

// One default tracker per page or process, even when the ESM and CJS builds (or two
// bundled copies) are both loaded: two queues would split batches and flushes.
const KEY = Symbol.for('@staryer/usage-sdk');
const registry = globalThis as unknown as Record<symbol, SharedState | undefined>;
const shared: SharedState = (registry[KEY] ??= { tracker: null, hook: null });
const listeners = (shared.listeners ??= new Set());

/**
 * Sets up the default tracker that `trackUsage` and `useUsageTracking` use. Calling it
 * again replaces the tracker (the old one delivers what it holds first).
 */
export function initUsageTracking(options: UsageTrackingOptions): UsageTracker {
  const previous = shared.tracker;
  const tracker = new UsageTracker(options);
  shared.tracker = tracker;
  for (const listener of listeners) listener();
  if (previous) void previous.shutdown();
  return tracker;
}

/** Calls `listener` whenever `initUsageTracking` replaces the default tracker; returns the unsubscribe. */
export function subscribeToUsageTracker(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The default tracker, or null before `initUsageTracking`. */
export function getUsageTracker(): UsageTracker | null {
  return shared.tracker;
}

const notInitialized = () => {
  const promise = Promise.reject(new UsageError('Call initUsageTracking({ creatorId, baseURL, … }) before tracking.', { code: 'not-initialized' }));
  promise.catch(() => undefined);
  return promise;
};

/**
 * An event tracked before `initUsageTracking`: its promise rejects, and — since callers
 * often do not await it (the seed's click handlers) and there is no tracker whose
 * `onError` could hear of it — the console says so once, as for every other lost event.
 */
const notRecorded = () => {
  warnOnce(
    'event-not-initialized',
    'An event was not recorded (not-initialized): trackUsage was called before initUsageTracking({ creatorId, baseURL, … }). Call initUsageTracking first (at start-up, before any component or module tracks); further "not-initialized" errors are not logged.',
  );
  return notInitialized();
};

/**
 * Tracks one usage event with the default tracker. Resolves once the server has
 * committed it, with the customer's usage after it; rejects with a
 * `QuotaExceededError` when a hard cap refuses it, or another `UsageError`.
 */
export function trackUsage(event: TrackEvent): Promise<TrackedEvent> {
  return shared.tracker ? shared.tracker.track(event) : notRecorded();
}

/** Sends what the default tracker holds; resolves when it is settled. */
export function flush(): Promise<void> {
  return shared.tracker ? shared.tracker.flush() : Promise.resolve();
}

/** Delivers what the default tracker holds (up to `timeoutMs`) and stops it. */
export function shutdown(options?: { timeoutMs?: number }): Promise<void> {
  return shared.tracker ? shared.tracker.shutdown(options) : Promise.resolve();
}

/** The customer's usage against the limit (no event recorded), with the default tracker's credentials. */
export function checkUsage(input: CheckInput): Promise<UsageCheck> {
  return shared.tracker ? shared.tracker.checkUsage(input) : notInitialized();
}

const apis = new WeakMap<UsageTracker, UsageTrackingApi>();
let defaultApi: UsageTrackingApi | undefined;

/** The tracking functions bound to a tracker, or (null) to whichever is the default when called. */
export function trackingApi(tracker: UsageTracker | null): UsageTrackingApi {
  const cached = tracker ? apis.get(tracker) : defaultApi;
  if (cached) return cached;
  const track = (event: TrackEvent) => (tracker ? tracker.track(event) : trackUsage(event));
  const api: UsageTrackingApi = {
    trackUsage: track,
    trackAPICall: (userId, endpoint, method) => track({ userId, eventName: 'api_calls', value: 1, properties: { endpoint, method } }),
    trackFeatureUsage: (userId, feature, seconds) => track({ userId, eventName: 'feature_usage', value: seconds, properties: { feature } }),
    flush: () => (tracker ? tracker.flush() : flush()),
  };
  if (tracker) apis.set(tracker, api);
  else defaultApi = api;
  return api;
}

/**
 * Lets `@staryer/usage-sdk/react` make the root `useUsageTracking` read its provider
 * during a render; `isRendering` tells when that is (undefined: it cannot tell).
 */
export function registerTrackingHook(hook: () => UsageTrackingApi, isRendering: () => boolean | undefined): void {
  shared.hook = hook;
  shared.isRendering = isRendering;
}

/**
 * The seed's React hook: `const { trackAPICall, trackFeatureUsage } = useUsageTracking()`.
 * Importable from the package root without React: it uses the default tracker, or —
 * during a render, once `@staryer/usage-sdk/react` is loaded — the nearest
 * `<UsageTrackingProvider>`. Outside a render (an HTTP handler of a server that also
 * renders pages) it stays the React-free default-tracker API: React refuses hooks there.
 */
export function useUsageTracking(): UsageTrackingApi {
  const hook = shared.hook;
  if (!hook) return trackingApi(null);
  const rendering = shared.isRendering?.();
  if (rendering !== undefined) return rendering ? hook() : trackingApi(null);
  // A React whose internals are unknown: its hooks throw outside a render.
  try {
    return hook();
  } catch {
    return trackingApi(null);
  }
}
