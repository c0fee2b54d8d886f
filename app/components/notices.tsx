import { useEffect, useRef, type ReactNode } from 'react';

/**
 * Takes the keyboard focus to a notice that appears as the result of the user's action when
 * the action's re-render took it away (the form that was sent was rebuilt for the next entry,
 * the row's button left with the row): without this, focus falls to <body> and a keyboard or
 * screen-reader user starts again from the top of the page. Focus that is still somewhere is
 * left where it is. `result`: the action's result (falsy: never); each new one is judged again.
 */
export function useFocusIfLost<T extends HTMLElement>(result: unknown) {
  const ref = useRef<T>(null);
  useEffect(() => {
    const notice = ref.current;
    if (!result || !notice) return;
    const lost = () => document.activeElement === null || document.activeElement === document.body;
    if (lost()) {
      notice.focus();
      return;
    }
    // The form may be rebuilt in a later render than the one that shows the notice (the
    // page's data, revalidated after the action, changes its key): focus lost shortly after
    // the notice appeared comes here too.
    const onFocusOut = (event: FocusEvent) => {
      if (event.relatedTarget === null) setTimeout(() => lost() && notice.isConnected && notice.focus(), 0);
    };
    document.addEventListener('focusout', onFocusOut);
    const stop = setTimeout(() => document.removeEventListener('focusout', onFocusOut), FOCUS_LOSS_WATCHED_MS);
    return () => {
      clearTimeout(stop);
      document.removeEventListener('focusout', onFocusOut);
    };
  }, [result]);
  return ref;
}

/** How long after a notice appears a loss of focus is taken as its action's re-render. */
const FOCUS_LOSS_WATCHED_MS = 5000;

/**
 * The outcome of an action that went well, announced to screen readers. `focusIfLost`: the
 * action's result (e.g. useActionData's) it shows; it takes the focus if that action's
 * re-render lost it.
 */
export function SuccessNotice({ children, testId, focusIfLost }: { children: ReactNode; testId?: string; focusIfLost?: unknown }) {
  const ref = useFocusIfLost<HTMLDivElement>(focusIfLost);
  return (
    <div
      ref={ref}
      role="status"
      tabIndex={focusIfLost === undefined ? undefined : -1}
      data-testid={testId}
      className="rounded-tremor-default border border-emerald-200 bg-emerald-50 px-4 py-3 text-tremor-default text-emerald-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-400"
    >
      {children}
    </div>
  );
}

/** Something to read before going on (e.g. a secret shown once); `focusIfLost` as for SuccessNotice. */
export function WarningNotice({ title, titleId, children, focusIfLost }: { title: ReactNode; titleId: string; children: ReactNode; focusIfLost?: unknown }) {
  const ref = useFocusIfLost<HTMLElement>(focusIfLost);
  return (
    <section
      ref={ref}
      aria-labelledby={titleId}
      tabIndex={focusIfLost === undefined ? undefined : -1}
      className="rounded-tremor-default border border-amber-300 bg-amber-50 p-5 shadow-tremor-card focus:outline-none focus-visible:ring-2 focus-visible:ring-amber-400"
    >
      <h3 id={titleId} className="text-tremor-default font-semibold text-amber-900">
        {title}
      </h3>
      <div className="mt-1 text-tremor-default text-amber-800">{children}</div>
    </section>
  );
}
