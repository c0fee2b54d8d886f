import * as React from 'react';
import { createContext, useCallback, useContext, useEffect, useId, useMemo, useRef, useState, useSyncExternalStore, type CSSProperties, type ReactNode } from 'react';
import { getUsageTracker, registerTrackingHook, subscribeToUsageTracker, trackingApi, type UsageTrackingApi } from './core';
import { reaches, percentOf } from './decimal';
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
  if (v19 && 'H' in v19) return isRenderDispatcher(v19.H);
  const v18 = internals.__SECRET_INTERNALS_DO_NOT_USE_OR_YOU_WILL_BE_FIRED?.ReactCurrentDispatcher;
  if (v18 && 'current' in v18) return isRenderDispatcher(v18.current);
  return undefined;
}

/**
 * A dispatcher set by a render, not the one react-dom leaves behind between renders once it has
 * rendered anything: that one (ContextOnlyDispatcher) is not null, but every hook of it is the
 * same function, the one that throws "Invalid hook call". A render's hooks are each their own.
 */
function isRenderDispatcher(dispatcher: unknown): boolean {
  if (dispatcher == null) return false;
  const hooks = dispatcher as { useContext?: unknown; useEffect?: unknown };
  return !(typeof hooks.useContext === 'function' && hooks.useContext === hooks.useEffect);
}

// The root entry's useUsageTracking reads the provider too, during a render, once this
// module is loaded.
registerTrackingHook(useUsageTracking, isRendering);

export type UsageState = {
  /** Quantities as numbers, for display; null while loading (limit: also for unlimited plans). */
  used: number | null;
  limit: number | null;
  remaining: number | null;
  /**
   * Whether one more event (of value 1) would be accepted. After a commit whose figures do
   * not tell (less than 1 left in a meter counted in hours, a max meter at its limit, 1–999
   * left of a meter no check has yet shown is not counted in ms), the previous answer until
   * the server's, which is asked for at once.
   */
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

/**
 * How much of `remaining` an event of 1 takes, as far as a check's answer has shown it, per
 * tracker × meter: `ms` — 1,000 (a duration meter counted in ms: an event of 1 is a
 * second); `small` — at most 1 (every other meter: 1 of a count, sum or unique meter, a
 * second of a duration meter in seconds, minutes or hours, nothing more for a max meter at
 * 1 or above). Unknown until a check tells: a capped answer refusing an event of 1 with 1 or
 * more left is an ms meter; one allowing it with less than 1,000 left is not.
 */
type EventCost = 'ms' | 'small';
const eventCosts = new WeakMap<UsageTracker, Map<string, EventCost>>();
const costOf = (tracker: UsageTracker | null, eventName: string): EventCost | undefined => (tracker ? eventCosts.get(tracker)?.get(eventName) : undefined);

function learnCost(tracker: UsageTracker, eventName: string, answer: UsageCheck): void {
  if (!answer.hard_cap || answer.remaining === null) return;
  const cost: EventCost | undefined = !answer.allowed && reaches(answer.remaining, 1) ? 'ms' : answer.allowed && !reaches(answer.remaining, 1000) ? 'small' : undefined;
  if (!cost) return;
  const costs = eventCosts.get(tracker) ?? new Map<string, EventCost>();
  eventCosts.set(tracker, costs.set(eventName, cost));
}

/**
 * Whether an event of 1 would be accepted, from the figures alone (undefined: they do not
 * tell). Remaining is in the meter's unit, and an event of 1 takes at most 1,000 of it (1 s of
 * a duration meter counted in ms; at most 1 for every other meter — see EventCost). So:
 * - no hard cap, or no limit: allowed;
 * - remaining ≥ 1,000: allowed, whatever the meter;
 * - a meter known to count in ms: allowed only with 1,000 or more left;
 * - a meter known to take at most 1: allowed with 1 or more left;
 * - otherwise unknown (1–999 left of a meter not yet known, less than 1 of one known small:
 *   a second of a meter in hours fits, 1 of a sum does not).
 */
function fitsOneMore(hardCap: boolean, remaining: string | null, cost: EventCost | undefined): boolean | undefined {
  if (!hardCap || remaining === null || reaches(remaining, 1000)) return true;
  if (cost === 'ms') return false;
  if (cost === 'small' && reaches(remaining, 1)) return true;
  return undefined;
}

/**
 * Whether one more event (of value 1) would be accepted, from a commit's or refusal's
 * figures, and whether that is certain: as the figures tell (fitsOneMore); else a view of
 * the same period that was refused already stays refused (usage only grows within a
 * period); else refused with nothing left but for a max meter, and the previous answer
 * between — in both cases uncertain: the check that follows tells.
 */
function allowsOneMore(hardCap: boolean, remaining: string | null, previous: boolean | undefined, cost: EventCost | undefined): { allowed: boolean; certain: boolean } {
  const fits = fitsOneMore(hardCap, remaining, cost);
  if (fits !== undefined) return { allowed: fits, certain: true };
  if (previous === false) return { allowed: false, certain: true };
  if (reaches(0, remaining!)) return { allowed: false, certain: false };
  return { allowed: previous ?? true, certain: false };
}

/** Later of two views of the same customer × meter: usage only grows within a period. */
function merge(current: UsageCheck | null, next: UsageCheck, cost: EventCost | undefined): UsageCheck {
  if (!current || next.period_start > current.period_start) return next;
  if (next.period_start < current.period_start) return current;
  const [later, other] = reaches(next.used, current.used) ? [next, current] : [current, next];
  // A commit's figures with the cap a check of the same period knew (the commit may be seen
  // before the check that was answered ahead of it): not "no cap" for want of knowing.
  if (guessedCap.has(later) && !guessedCap.has(other) && later.hard_cap !== other.hard_cap) {
    return { ...later, hard_cap: other.hard_cap, allowed: allowsOneMore(other.hard_cap, later.remaining, other.allowed, cost).allowed };
  }
  return later;
}

const samePeriod = (a: string, b: string) => a === b || Date.parse(a) === Date.parse(b);

/**
 * Whether a commit or refusal speaks of the period the view shows: one of another period
 * (a late event, refused for last period's cap or committed to it) is not this period's
 * usage. A commit of a later period (the view's has ended) starts the new one.
 */
function isForView(current: UsageCheck | null, update: UsageUpdate): boolean {
  if (!current) return update.period_start !== undefined; // a refusal before the first answer: the poll will tell
  if (samePeriod(update.period_end, current.period_end)) return true;
  return update.period_start !== undefined && Date.parse(update.period_end) > Date.parse(current.period_end);
}

/** The view after a commit or refusal (isForView), and whether its `allowed` is certain. */
function fromUpdate(current: UsageCheck | null, update: UsageUpdate, cost: EventCost | undefined): { usage: UsageCheck | null; certain: boolean } {
  const periodStart = update.period_start ?? current?.period_start;
  if (!periodStart || !isForView(current, update)) return { usage: current, certain: true };
  const hardCap = update.exceeded || (current?.hard_cap ?? false);
  // From the figures, not from the refusal: a refused event of 600 with 500 left says
  // nothing against an event of 1, which is what `allowed` is about.
  const previous = current && samePeriod(current.period_end, update.period_end) ? current.allowed : undefined;
  const { allowed, certain } = allowsOneMore(hardCap, update.remaining, previous, cost);
  const view: UsageCheck = {
    allowed,
    used: update.used,
    limit: update.limit,
    remaining: update.remaining,
    hard_cap: hardCap,
    period_start: periodStart,
    period_end: update.period_end,
  };
  if (!update.exceeded) guessedCap.add(view);
  // Whether the plan caps is known from a check (or a refusal); a commit seen before any
  // check answered guesses "no cap", which the check that follows must confirm.
  const capKnown = update.exceeded || (current !== null && !guessedCap.has(current));
  return { usage: merge(current, view, cost), certain: certain && (capKnown || fitsOneMore(true, update.remaining, cost) === true) };
}

/**
 * Orders what a view is made of: each check sent and each commit or refusal a hook takes
 * gets the next tick. A check's answer is the server's word for its period and replaces the
 * view (a lower used after a meter was archived and created again, another limit) unless a
 * commit was taken after the check was sent (then the larger used wins, as the commit may be
 * the later) or a check sent after it has answered already (then it is dropped).
 */
let clock = 0;

function withCheck(current: UsageView, answer: UsageCheck, sent: number, cost: EventCost | undefined): Partial<UsageView> {
  if (current.checkedAt > sent) return {}; // a later check has answered
  const usage = current.changedAt > sent ? merge(current.usage, answer, cost) : answer;
  return { usage, checkedAt: sent, error: null, loading: false };
}

/** A check's answer, for the other useUsage hooks on the same tracker; `by` names the hook that asked. */
type CheckListener = (userId: string, eventName: string, answer: UsageCheck, sent: number, by: object) => void;
const checkListeners = new WeakMap<UsageTracker, Set<CheckListener>>();

/** After commits whose figures leave `allowed` unknown, the server is asked once this much later (commits meanwhile share it). */
const FOLLOW_UP_DELAY = 100;

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
 * and takes each event this tracker commits or gets refused for the customer as it happens
 * (in the period shown: a late event of last period's is not this period's usage). A check's
 * answer is the server's word: it replaces what is shown, in every useUsage of the same
 * customer × meter and tracker.
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

  // The tick of the last commit or refusal this hook took for the view's period.
  const lastChange = useRef(0);
  // The shown view, for deciding outside a state update whether a commit leaves `allowed` unknown.
  const shown = useRef<UsageCheck | null>(usage);
  useEffect(() => {
    shown.current = usage;
  }, [usage]);
  // This hook, to tell its own check answers from other hooks'.
  const self = useRef<object>({});
  // Set by the effect below while mounted: asks the server again shortly (commits meanwhile share the one check).
  const followUp = useRef<(() => void) | null>(null);

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
    const sent = ++clock;
    try {
      const answer = await tracker.checkUsage({ userId, eventName });
      if (stale()) return;
      learnCost(tracker, eventName, answer);
      const cost = costOf(tracker, eventName);
      update((current) => withCheck(current, answer, sent, cost));
      // The other hooks of this customer × meter on this tracker (a <LimitBanner> beside a
      // <UsageBar>) show the same answer: one refresh() or poll updates them all.
      for (const listener of checkListeners.get(tracker) ?? []) listener(userId, eventName, answer, sent, self.current);
      // Merged with a commit seen after this check was sent: a capped view whose figures do
      // not prove room for one more is asked again (the commit's own follow-up may have been
      // sent before this answer).
      if (lastChange.current > sent && fitsOneMore(answer.hard_cap, answer.remaining, cost) !== true) followUp.current?.();
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
    let timer: ReturnType<typeof setTimeout> | null = null;
    followUp.current = () => {
      timer ??= setTimeout(() => {
        timer = null;
        void refresh();
      }, FOLLOW_UP_DELAY);
    };
    const onCheck: CheckListener = (user, meter, answer, sent, by) => {
      if (user !== userId || meter !== eventName || by === self.current) return;
      const cost = costOf(tracker, eventName);
      setView((previous) => (sameKey(previous.key, asked) ? { ...previous, ...withCheck(previous, answer, sent, cost) } : previous));
    };
    if (tracker) {
      const listeners = checkListeners.get(tracker) ?? new Set<CheckListener>();
      checkListeners.set(tracker, listeners.add(onCheck));
    }
    const unsubscribe = tracker?.subscribe((update) => {
      if (update.userId !== userId || update.eventName !== eventName) return;
      const at = ++clock;
      // Figures that leave `allowed` unknown (a meter in hours with less than 1 left, a max
      // meter at its limit, 1–999 left of a meter that may count ms, a cap not yet known): the
      // server decides, once for all commits of the next moment rather than once per commit.
      const cost = costOf(tracker, eventName);
      if (!fromUpdate(shown.current, update, cost).certain) followUp.current?.();
      if (isForView(shown.current, update)) lastChange.current = at;
      setView((previous) => {
        if (!sameKey(previous.key, asked) || !isForView(previous.usage, update)) return previous;
        return { ...previous, usage: fromUpdate(previous.usage, update, cost).usage, changedAt: at };
      });
    });
    return () => {
      unsubscribe?.();
      if (tracker) checkListeners.get(tracker)?.delete(onCheck);
      if (timer !== null) clearTimeout(timer);
      followUp.current = null;
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
/** checkedAt: the tick the shown check was sent at; changedAt: the tick of the last commit or refusal taken. */
type UsageView = { key: UsageKey; usage: UsageCheck | null; error: UsageError | null; loading: boolean; checkedAt: number; changedAt: number };

const emptyView = (key: UsageKey): UsageView => ({ key, usage: null, error: null, loading: true, checkedAt: 0, changedAt: 0 });
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
/** Exactly, on the figures as given (decimal strings, or numbers as written): never through a division of doubles. */
const toneOf = (used: Figure, limit: Figure | null, warnAt: number): Tone =>
  limit === null ? 'ok' : reaches(used, limit) ? 'exceeded' : !reaches(0, limit) && reaches(used, limit, warnAt) ? 'warning' : 'ok';

/** A quantity as the server gives it (a decimal string) or as passed. */
type Figure = number | string;

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
  return <UsageBarView {...props} used={props.used} limit={props.limit} status="ready" />;
}

function LiveUsageBar(props: UsageBarProps & { userId: string; eventName: string }): ReactNode {
  const state = useUsage(props.userId, props.eventName, { pollInterval: props.pollInterval });
  // Once read, the last usage stays shown through a failed poll; never read, it is unknown.
  const status = state.usage !== null ? 'ready' : state.loading ? 'loading' : 'error';
  return <UsageBarView {...props} used={state.usage?.used ?? 0} limit={state.usage?.limit ?? null} status={status} />;
}

function UsageBarView(
  props: Styling & { label?: string; eventName?: string; unit?: string; warnAt?: number; format?: (n: number) => string; used: Figure; limit: Figure | null; status: 'loading' | 'error' | 'ready' },
): ReactNode {
  // Numbers to write and draw; the tone and the percentage from the exact figures.
  const used = Number(props.used);
  const limit = props.limit === null ? null : Number(props.limit);
  const labelId = useId();
  const format = props.format ?? ((n: number) => formatNumber(n, props.locale));
  const loading = props.status === 'loading';
  const failed = props.status === 'error';
  const tone = failed ? 'error' : toneOf(props.used, props.limit, props.warnAt ?? 0.8);
  const unit = props.unit ? ` ${props.unit}` : '';
  // Unknown (error): an empty bar; no limit (or loading): a faint full one.
  const percent = failed ? 0 : limit === null ? null : limit === 0 ? 100 : Math.min(100, (used / limit) * 100);
  const text = loading
    ? 'Loading…'
    : failed
      ? 'Usage unavailable'
      : props.limit === null || limit === null
        ? `${format(used)}${unit} used · no limit`
        : `${format(used)} of ${format(limit)}${unit} (${limit === 0 ? 100 : percentOf(props.used, props.limit, 'round')}%)`;
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
        aria-valuemax={failed ? undefined : (limit ?? undefined)}
        aria-valuenow={loading || failed || limit === null ? undefined : Math.min(used, limit)}
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
  const usage = state.usage;
  if (usage === null || usage.limit === null || state.limit === null) return null;
  // Exactly, on the server's decimal strings. At the limit is "used all"; short of it is a
  // warning, also on a hard cap that refuses an event of 1 (`allowed` false): what is left
  // may still be used (0.5 GB of 10.125).
  const exceeded = reaches(usage.used, usage.limit);
  if (!exceeded && !reaches(usage.used, usage.limit, props.threshold ?? 0.8)) return null;
  const what = props.label ?? props.eventName;
  const resets = state.periodEnd ? ` It resets on ${formatDate(state.periodEnd, props.locale)}.` : '';
  const message = exceeded
    ? `You have used all ${formatNumber(state.limit, props.locale)} ${what} of this billing period.${resets}`
    : `You have used ${percentOf(usage.used, usage.limit, 'floor')}% of your ${formatNumber(state.limit, props.locale)} ${what} this billing period.`;
  const tone = exceeded ? TONES.exceeded : TONES.warning;
  const s = !props.unstyled;
  return (
    <div
      role={exceeded ? 'alert' : 'status'}
      className={props.className}
      data-state={exceeded ? 'exceeded' : 'warning'}
      style={
        s
          ? { display: 'flex', alignItems: 'center', justifyContent: 'space-between', gap: 12, padding: '10px 14px', borderRadius: 8, borderStyle: 'solid', borderColor: tone, borderWidth: '1px 1px 1px 4px', background: exceeded ? 'rgba(220,38,38,0.08)' : 'rgba(217,119,6,0.08)', font: 'inherit', ...props.style }
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
