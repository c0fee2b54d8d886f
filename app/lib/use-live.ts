import { useEffect, useRef, useState } from 'react';

export type LiveState = 'live' | 'paused' | 'reconnecting';

/** A tRPC call refused for want of a session (401). */
const signedOut = (error: unknown) => (error as { data?: { httpStatus?: number } } | null)?.data?.httpStatus === 401;

/**
 * Short polling (docs/decisions/0014-live-dashboard-polling.md): `load` runs every
 * `intervalMs` while the tab is visible, at once when it becomes visible again, and with
 * a growing delay (up to 30 s) after failures; a 401 (the session ended) sends the page to
 * log in, and back here afterwards. Answers `data` (the loader's first, then
 * each poll's), the state for a "live" indicator and when the data was last refreshed.
 */
export function useLive<T>(initial: T, load: (signal: AbortSignal) => Promise<T>, intervalMs = 4000) {
  const [data, setData] = useState(initial);
  const [state, setState] = useState<LiveState>('live');
  const [updatedAt, setUpdatedAt] = useState(() => Date.now());
  const loadRef = useRef(load);
  loadRef.current = load;

  // A new loader answer (navigation, a changed filter) replaces what polling had.
  useEffect(() => {
    setData(initial);
    setUpdatedAt(Date.now());
  }, [initial]);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let controller: AbortController | undefined;
    let failures = 0;
    let stopped = false;

    const schedule = (delay: number) => {
      clearTimeout(timer);
      if (!stopped && document.visibilityState === 'visible') timer = setTimeout(tick, delay);
    };
    async function tick() {
      controller?.abort();
      controller = new AbortController();
      try {
        const next = await loadRef.current(controller.signal);
        if (stopped) return;
        failures = 0;
        setData(next);
        setUpdatedAt(Date.now());
        setState('live');
      } catch (error) {
        if (stopped || (error instanceof Error && error.name === 'AbortError')) return;
        if (signedOut(error)) {
          // Logged out elsewhere, or the session expired: polling would never succeed again.
          stopped = true;
          window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
          return;
        }
        failures += 1;
        setState('reconnecting');
      }
      schedule(failures === 0 ? intervalMs : Math.min(30_000, intervalMs * 2 ** failures));
    }
    const onVisibility = () => {
      if (document.visibilityState === 'visible') {
        setState('live');
        schedule(0);
      } else {
        clearTimeout(timer);
        setState('paused');
      }
    };
    document.addEventListener('visibilitychange', onVisibility);
    schedule(intervalMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
      controller?.abort();
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [intervalMs]);

  return { data, state, updatedAt };
}
