import * as React from 'react';
import { createContext, useCallback, useContext, useEffect, useId, useMemo, useRef, useState, useSyncExternalStore, type CSSProperties, type ReactNode } from 'react';
import { getUsageTracker, registerTrackingHook, subscribeToUsageTracker, trackingApi, type UsageTrackingApi } from './core';
import { UsageError } from './errors';
import { UsageTracker, type UsageCheck, type UsageTrackingOptions, type UsageUpdate } from './tracker';

export type { UsageTrackingApi } from './core';

const TrackerContext = createContext<UsageTracker | null>(null);

export type UsageTrackingProviderProps = ({ tracker: UsageTracker } | UsageTrackingOptions) & { children?: ReactNode };

/**
 * Gives the components below it a tracker: pass one (`tracker`) or the options of
 * `initUsageTracking`. Without a provider, the hooks use the default tracker that
 * `initUsageTracking` set up.
 */
export function UsageTrackingProvider(props: UsageTrackingProviderProps): ReactNode {
  const given = 'tracker' in props ? props.tracker : null;
  const options = 'tracker' in props ? null : props;
  // Callbacks are often new functions on every render: the tracker calls the latest ones.
  const latest = useRef(options);
  latest.current = options;
  const hasToken = !!options?.getToken;
  const hasOnError = !!options?.onError;
  const creatorId = options?.creatorId;
  const baseURL = options?.baseURL;
  const apiKey = options?.apiKey;
  // A new tracker only when where or as whom it reports changes; the other options are
  // read when it is made.
  const tracker = useMemo(
    () =>
      given ??
      new UsageTracker({
        ...latest.current!,
        creatorId: creatorId!,
        baseURL: baseURL!,
        apiKey,
        getToken: hasToken ? () => latest.current!.getToken!() : undefined,
        onError: hasOnError ? (error, event) => latest.current?.onError?.(error, event) : undefined,
      }),
    [given, creatorId, baseURL, apiKey, hasToken, hasOnError],
  );
  useEffect(
    () => () => {
      // Delivers what is queued when the provider goes away; flush rather than shut
      // down, since React may mount the same provider again (StrictMode, fast refresh).
      if (!given) void tracker.flush();
    },
    [tracker, given],
  );
  return <TrackerContext.Provider value={tracker}>{props.children}</TrackerContext.Provider>;
}

/**
 * The nearest provider's tracker, else the default one (null before initUsageTracking) —
 * the current one: a component renders again when `initUsageTracking` replaces it.
 */
export function useUsageTracker(): UsageTracker | null {
  const provided = useContext(TrackerContext);
  const byDefault = useSyncExternalStore(subscribeToUsageTracker, getUsageTracker, getUsageTracker);
  return provided ?? byDefault;
}

/**
 * `const { trackAPICall, trackFeatureUsage, trackUsage } = useUsageTracking()`: tracking
 * functions bound to the nearest provider's tracker (or the default one). Their identity
 * is stable, so they can sit in dependency arrays.
 */
export function useUsageTracking(): UsageTrackingApi {
  return trackingApi(useContext(TrackerContext));
}

type ReactInternals = {
  /** React 19: the dispatcher, set while a component renders. */
  __CLIENT_INTERNALS_DO_NOT_USE_OR_WARN_USERS_THEY_CANNOT_UPGRADE?: { H?: unknown };
  /** React 18. */
  __SECRET_INTERNALS_DO_NOT_USE_OR_YOU_WILL_BE_FIRED?: { ReactCurrentDispatcher?: { current?: unknown } };
};

/**
 * Whether React is rendering a component now, so that hooks may be called: React sets its
 * dispatcher for the length of a render and clears it after. There is no public API for
 * this; undefined when this React's internals are not the known ones.
 */
function isRendering(): boolean | undefined {
  const internals = React as unknown as ReactInternals;
  const v19 = internals.__CLIENT_INTERNALS_DO_NOT_USE_OR_WARN_USERS_THEY_CANNOT_UPGRADE;
  if (v19 && 'H' in v19) return v19.H != null;
  const v18 = internals.__SECRET_INTERNALS_DO_NOT_USE_OR_YOU_WILL_BE_FIRED?.ReactCurrentDispatcher;
  if (v18 && 'current' in v18) return v18.current != null;
  return undefined;
}

// The root entry's useUsageTracking reads the provider too, during a render, once this
// module is loaded.
registerTrackingHook(useUsageTracking, isRendering);

export type UsageState = {
  /** Quantities as numbers, for display; null while loading (limit: also for unlimited plans). */
  used: number | null;
  limit: number | null;
  remaining: number | null;
  /** Whether one more event (of value 1) would be accepted. */
  allowed: boolean | null;
  hardCap: boolean;
  periodEnd: string | null;
  /** The last answer as the server gave it (decimal strings). */
  usage: UsageCheck | null;
  loading: boolean;
  error: UsageError | null;
  /** Asks the server again now. */
  refresh: () => Promise<void>;
};

/**
 * Views built from a tracked event's answer, whose `hard_cap` is a guess: a track answer does
 * not say whether the plan caps (only a refusal shows it). A check's answer says.
 */
const guessedCap = new WeakSet<UsageCheck>();

/** Whether one more event (of value 1) would be accepted, from the figures. */
const allowsOneMore = (hardCap: boolean, remaining: string | null) => !hardCap || remaining === null || Number(remaining) >= 1;

/** Later of two views of the same customer × meter: usage only grows within a period. */
function merge(current: UsageCheck | null, next: UsageCheck): UsageCheck {
  if (!current || next.period_start > current.period_start) return next;
  if (next.period_start < current.period_start) return current;
  const [later, other] = Number(next.used) >= Number(current.used) ? [next, current] : [current, next];
  // A commit's figures with the cap a check of the same period knew (the commit may be seen
  // before the check that was answered ahead of it): not "no cap" for want of knowing.
  if (guessedCap.has(later) && !guessedCap.has(other) && later.hard_cap !== other.hard_cap) {
    return { ...later, hard_cap: other.hard_cap, allowed: allowsOneMore(other.hard_cap, later.remaining) };
  }
  return later;
}

function fromUpdate(current: UsageCheck | null, update: UsageUpdate): UsageCheck | null {
  const periodStart = update.period_start ?? current?.period_start;
  if (!periodStart) return current; // a refusal before the first answer: the poll will tell
  const hardCap = update.exceeded || (current?.hard_cap ?? false);
  // From the figures, not from the refusal: a refused event of 600 with 500 left says
  // nothing against an event of 1, which is what `allowed` is about.
  const view: UsageCheck = {
    allowed: allowsOneMore(hardCap, update.remaining),
    used: update.used,
    limit: update.limit,
    remaining: update.remaining,
    hard_cap: hardCap,
    period_start: periodStart,
    period_end: update.period_end,
  };
  if (!update.exceeded) guessedCap.add(view);
  return merge(current, view);
}

const toNumber = (value: string | null | undefined) => (value === null || value === undefined ? null : Number(value));

/** Longest delay setInterval takes (2^31 − 1 ms, ≈ 24.8 days); past it, it fires at once. */
const MAX_INTERVAL = 2 ** 31 - 1;

export type UseUsageOptions = {
  /**
   * Ask the server again this often, in ms (default 30 s; skipped while the page is
   * hidden). `Infinity`, 0 or a negative number: no polling — asked once, then kept live
   * by this tracker's own events only. At most 2^31 − 1 ms (≈ 24.8 days).
   */
  pollInterval?: number;
};

/**
 * Live usage of one customer × meter: asks `GET /api/usage/check` now and every
 * `pollInterval` (default 30 s, skipped while the page is hidden; `Infinity` or 0: never),
 * and takes each event this tracker commits or gets refused for the customer as it happens.
 */
export function useUsage(userId: string, eventName: string, options: UseUsageOptions = {}): UsageState {
  const tracker = useUsageTracker();
  const provided = useContext(TrackerContext);
  const pollInterval = options.pollInterval ?? 30_000;
  // The state names whom it is about: in the render after userId (or the meter, or the
  // tracker) changes, and before the effect below asks for the new one, what it holds is
  // another customer's — shown as loading, never as this one's.
  const [view, setView] = useState<UsageView>(() => emptyView({ tracker, userId, eventName }));
  const { usage, error, loading } = sameKey(view.key, { tracker, userId, eventName }) ? view : emptyView({ tracker, userId, eventName });
  // What is shown now: set once a render is committed (a render React throws away must not
  // make the shown answer look stale), ahead of the effect below that asks for it.
  const key = useRef<UsageKey>({ tracker, userId, eventName });
  useEffect(() => {
    key.current = { tracker, userId, eventName };
  }, [tracker, userId, eventName]);

  const refresh = useCallback(async () => {
    const asked: UsageKey = { tracker, userId, eventName };
    const update = (change: (current: UsageView) => Partial<UsageView>) =>
      setView((previous) => {
        const current = sameKey(previous.key, asked) ? previous : emptyView(asked);
        return { ...current, ...change(current) };
      });
    if (!tracker) {
      update(() => ({ error: new UsageError('Call initUsageTracking or render a <UsageTrackingProvider> before useUsage.', { code: 'not-initialized' }), loading: false }));
      return;
    }
    // An answer for another user, meter or tracker (changed while it was asked) is dropped,
    // error or not: it must not show as this one's, nor end this one's loading. So is one
    // from a default tracker initUsageTracking replaced meanwhile (say, its `shutdown`).
    const stale = () => !sameKey(key.current, asked) || (tracker !== provided && tracker !== getUsageTracker());
    try {
      const answer = await tracker.checkUsage({ userId, eventName });
      if (stale()) return;
      update((current) => ({ usage: merge(current.usage, answer), error: null, loading: false }));
    } catch (cause) {
      if (stale()) return;
      update(() => ({ error: cause instanceof UsageError ? cause : new UsageError(String(cause), { code: 'network', cause }), loading: false }));
    }
  }, [tracker, provided, userId, eventName]);

  useEffect(() => {
    const asked: UsageKey = { tracker, userId, eventName };
    // What is held about this same customer × meter × tracker stays (it is shown while the
    // new answer comes); anyone else's is dropped.
    setView((previous) => (sameKey(previous.key, asked) ? previous : emptyView(asked)));
    void refresh();
    const unsubscribe = tracker?.subscribe((update) => {
      if (update.userId !== userId || update.eventName !== eventName) return;
      setView((previous) => (sameKey(previous.key, asked) ? { ...previous, usage: fromUpdate(previous.usage, update) } : previous));
    });
    return () => {
      unsubscribe?.();
    };
  }, [tracker, userId, eventName, refresh]);

  // Polling on its own: a new pollInterval restarts the timer, and neither asks again now
  // nor shows loading. Only a finite interval > 0 polls (setInterval treats Infinity, NaN
  // and anything past 2^31 − 1 as 1 ms).
  useEffect(() => {
    if (!(Number.isFinite(pollInterval) && pollInterval > 0)) return;
    const poll = () => {
      if (typeof document === 'undefined' || document.visibilityState !== 'hidden') void refresh();
    };
    const timer = setInterval(poll, Math.min(pollInterval, MAX_INTERVAL));
    return () => clearInterval(timer);
  }, [refresh, pollInterval]);

  return {
    used: toNumber(usage?.used),
    limit: toNumber(usage?.limit),
    remaining: toNumber(usage?.remaining),
    allowed: usage ? usage.allowed : null,
    hardCap: usage?.hard_cap ?? false,
    periodEnd: usage?.period_end ?? null,
    usage,
    loading,
    error,
    refresh,
  };
}

/** Whom useUsage's state is about. */
type UsageKey = { tracker: UsageTracker | null; userId: string; eventName: string };
type UsageView = { key: UsageKey; usage: UsageCheck | null; error: UsageError | null; loading: boolean };

const emptyView = (key: UsageKey): UsageView => ({ key, usage: null, error: null, loading: true });
const sameKey = (a: UsageKey, b: UsageKey) => a.tracker === b.tracker && a.userId === b.userId && a.eventName === b.eventName;

/**
 * Numbers and dates are written in a locale the component is given (default en-US), never
 * the host's default: a server's (en-US) and a browser's (de-DE) would render different
 * HTML, and React would report a hydration mismatch.
 */
const DEFAULT_LOCALE = 'en-US';
const formatNumber = (n: number, locale = DEFAULT_LOCALE) => new Intl.NumberFormat(locale).format(n);
const formatDate = (iso: string, locale = DEFAULT_LOCALE) => new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(iso));

type Tone = 'ok' | 'warning' | 'exceeded';
const TONES: Record<Tone | 'error', string> = { ok: '#16a34a', warning: '#d97706', exceeded: '#dc2626', error: '#6b7280' };
const toneOf = (used: number, limit: number | null, warnAt: number): Tone =>
  limit === null ? 'ok' : used >= limit ? 'exceeded' : limit > 0 && used / limit >= warnAt ? 'warning' : 'ok';

type Styling = {
  className?: string;
  style?: CSSProperties;
  /** Leave out the built-in inline styles (keep only className and data-state). */
  unstyled?: boolean;
  /**
   * The BCP 47 locale numbers (and dates) are written in. Default 'en-US' — fixed, not the
   * host's, so a server-rendered page and its hydration in any browser match; pass the
   * page's own locale (the same on the server and in the browser).
   */
  locale?: string;
};

export type UsageBarProps = Styling & {
  /** Shown above the bar, and the bar's accessible name. Default: the event name. */
  label?: string;
  /** Unit after the numbers, e.g. "calls". */
  unit?: string;
  /** From this fraction of the limit on, the bar turns amber. Default 0.8. */
  warnAt?: number;
  /** Writes a quantity. Default: `Intl.NumberFormat(locale)`. */
  format?: (n: number) => string;
} & ({ userId: string; eventName: string; pollInterval?: number } | { used: number | string; limit: number | string | null; userId?: never; eventName?: string });

/**
 * A labelled progress bar of usage against the limit: live for `userId` × `eventName`,
 * or for the `used` and `limit` you pass. role="progressbar" with aria-valuenow/max/text.
 * Live usage that cannot be read (an unknown meter, the server unreachable, no user yet)
 * shows "Usage unavailable" with data-state="error" — never as "0 used · no limit".
 */
export function UsageBar(props: UsageBarProps): ReactNode {
  if (props.userId !== undefined) return <LiveUsageBar {...props} />;
  return <UsageBarView {...props} used={Number(props.used)} limit={props.limit === null ? null : Number(props.limit)} status="ready" />;
}

function LiveUsageBar(props: UsageBarProps & { userId: string; eventName: string }): ReactNode {
  const state = useUsage(props.userId, props.eventName, { pollInterval: props.pollInterval });
  // Once read, the last usage stays shown through a failed poll; never read, it is unknown.
  const status = state.usage !== null ? 'ready' : state.loading ? 'loading' : 'error';
  return <UsageBarView {...props} used={state.used ?? 0} limit={state.limit} status={status} />;
}

function UsageBarView(
  props: Styling & { label?: string; eventName?: string; unit?: string; warnAt?: number; format?: (n: number) => string; used: number; limit: number | null; status: 'loading' | 'error' | 'ready' },
): ReactNode {
  const labelId = useId();
  const format = props.format ?? ((n: number) => formatNumber(n, props.locale));
  const loading = props.status === 'loading';
  const failed = props.status === 'error';
  const tone = failed ? 'error' : toneOf(props.used, props.limit, props.warnAt ?? 0.8);
  const unit = props.unit ? ` ${props.unit}` : '';
  // Unknown (error): an empty bar; no limit (or loading): a faint full one.
  const percent = failed ? 0 : props.limit === null ? null : props.limit === 0 ? 100 : Math.min(100, (props.used / props.limit) * 100);
  const text = loading
    ? 'Loading…'
    : failed
      ? 'Usage unavailable'
      : props.limit === null
        ? `${format(props.used)}${unit} used · no limit`
        : `${format(props.used)} of ${format(props.limit)}${unit} (${props.limit === 0 ? 100 : Math.round((props.used / props.limit) * 100)}%)`;
  const s = !props.unstyled;
  return (
    <div className={props.className} data-state={tone} style={s ? { font: 'inherit', display: 'grid', gap: 6, minWidth: 180, ...props.style } : props.style}>
      <div style={s ? { display: 'flex', justifyContent: 'space-between', gap: 12, fontSize: '0.875em' } : undefined}>
        <span id={labelId} style={s ? { fontWeight: 600 } : undefined}>
          {props.label ?? props.eventName ?? 'Usage'}
        </span>
        <span style={s ? { fontVariantNumeric: 'tabular-nums', opacity: 0.8 } : undefined}>{text}</span>
      </div>
      <div
        role="progressbar"
        aria-labelledby={labelId}
        aria-valuemin={0}
        aria-valuemax={failed ? undefined : (props.limit ?? undefined)}
        aria-valuenow={loading || failed || props.limit === null ? undefined : Math.min(props.used, props.limit)}
        aria-valuetext={text}
        aria-busy={loading || undefined}
        style={s ? { height: 8, borderRadius: 999, background: 'rgba(127,127,127,0.2)', overflow: 'hidden' } : undefined}
      >
        <div
          style={
            s
              ? { height: '100%', width: `${percent ?? 100}%`, borderRadius: 999, background: TONES[tone], opacity: percent === null ? 0.35 : 1, transition: 'width 300ms ease, background-color 300ms ease' }
              : { width: `${percent ?? 100}%` }
          }
        />
      </div>
    </div>
  );
}

export type LimitBannerProps = Styling & {
  userId: string;
  eventName: string;
  /** What the meter counts, in words: "API calls". Default: the event name. */
  label?: string;
  /** From this fraction of the limit on, the banner shows. Default 0.8. */
  threshold?: number;
  /** Where to upgrade; shows a link when given. */
  upgradeUrl?: string;
  upgradeLabel?: string;
  pollInterval?: number;
  /** Your own content, given the live usage; the banner keeps its role and styles. */
  children?: (state: UsageState & { exceeded: boolean }) => ReactNode;
};

/**
 * Tells a customer they are near (role="status") or at (role="alert") their plan's limit;
 * renders nothing below `threshold` or on unlimited plans.
 */
export function LimitBanner(props: LimitBannerProps): ReactNode {
  const state = useUsage(props.userId, props.eventName, { pollInterval: props.pollInterval });
  if (state.used === null || state.limit === null) return null;
  const fraction = state.limit === 0 ? 1 : state.used / state.limit;
  const exceeded = state.used >= state.limit || state.allowed === false;
  if (!exceeded && fraction < (props.threshold ?? 0.8)) return null;
  const what = props.label ?? props.eventName;
  const resets = state.periodEnd ? ` It resets on ${formatDate(state.periodEnd, props.locale)}.` : '';
  const message = exceeded
    ? `You have used all ${formatNumber(state.limit, props.locale)} ${what} of this billing period.${resets}`
    : `You have used ${Math.floor(fraction * 100)}% of your ${formatNumber(state.limit, props.locale)} ${what} this billing period.`;
  const tone = exceeded ? TONES.exceeded : TONES.warning;
  const s = !props.unstyled;
  return (
    <div
      role={exceeded ? 'alert' : 'status'}
      className={props.className}
      data-state={exceeded ? 'exceeded' : 'warning'}
      style={
        s
          ? { display: 'flex', alignItems: 'center', justifyContent: 'space-between', gap: 12, padding: '10px 14px', borderRadius: 8, border: `1px solid ${tone}`, borderLeftWidth: 4, background: exceeded ? 'rgba(220,38,38,0.08)' : 'rgba(217,119,6,0.08)', font: 'inherit', ...props.style }
          : props.style
      }
    >
      {props.children ? props.children({ ...state, exceeded }) : <span>{message}</span>}
      {props.upgradeUrl ? (
        <a href={props.upgradeUrl} style={s ? { color: tone, fontWeight: 600, whiteSpace: 'nowrap' } : undefined}>
          {props.upgradeLabel ?? 'Upgrade plan'}
        </a>
      ) : null}
    </div>
  );
}

export { UsageTracker, type UsageCheck, type UsageUpdate } from './tracker';
