import { useEffect, useState } from 'react';
import type { LiveState } from '~/lib/use-live';

const LABEL: Record<LiveState, string> = { live: 'Live', paused: 'Paused', reconnecting: 'Reconnecting…' };
const DOT: Record<LiveState, string> = { live: 'bg-emerald-500', paused: 'bg-gray-400', reconnecting: 'bg-amber-500' };

/** "Live · updated 3 s ago": what the polling of useLive is doing, for people and screen readers. */
export function LiveIndicator({ state, updatedAt }: { state: LiveState; updatedAt: number }) {
  const [now, setNow] = useState<number | null>(null);
  useEffect(() => {
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const seconds = now === null ? 0 : Math.max(0, Math.round((now - updatedAt) / 1000));
  return (
    <p className="flex items-center gap-2 text-tremor-label text-tremor-content" data-testid="live-indicator" data-state={state}>
      <span className="relative flex h-2.5 w-2.5">
        {state === 'live' ? <span className="absolute inline-flex h-full w-full animate-ping rounded-full bg-emerald-400 opacity-60 motion-reduce:hidden" /> : null}
        <span className={`relative inline-flex h-2.5 w-2.5 rounded-full ${DOT[state]}`} />
      </span>
      {/* Only the state is announced (Live, Paused, Reconnecting…): the age below changes every second. */}
      <span className="font-medium text-tremor-content-emphasis" aria-live="polite">
        {LABEL[state]}
      </span>
      <span aria-hidden="true">·</span>
      <span>{now === null ? 'just loaded' : seconds < 2 ? 'updated just now' : `updated ${seconds} s ago`}</span>
    </p>
  );
}
