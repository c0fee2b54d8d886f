import { useEffect, useState } from 'react';

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection-based copy
  }
  // Plain http on a non-localhost host has no Clipboard API.
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  return ok;
}

/** Copies `text`; the result is announced to screen readers. */
export function CopyButton({ text, label = 'Copy', className = '' }: { text: string; label?: string; className?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const timer = setTimeout(() => setState('idle'), 2_000);
    return () => clearTimeout(timer);
  }, [state]);
  return (
    <button
      type="button"
      onClick={() => void copyText(text).then((ok) => setState(ok ? 'copied' : 'failed'))}
      className={`inline-flex shrink-0 items-center gap-1.5 rounded-tremor-small border border-tremor-border bg-white px-2.5 py-1.5 text-tremor-label font-medium text-tremor-content-emphasis shadow-tremor-input hover:bg-tremor-background-muted focus:outline-none focus-visible:ring-2 focus-visible:ring-tremor-brand-muted ${className}`}
    >
      <svg aria-hidden="true" viewBox="0 0 20 20" className="h-3.5 w-3.5" fill="none" stroke="currentColor" strokeWidth="1.6">
        <rect x="7" y="7" width="10" height="10" rx="2" />
        <path d="M13 7V5a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v6a2 2 0 0 0 2 2h2" />
      </svg>
      <span aria-live="polite">{state === 'copied' ? 'Copied' : state === 'failed' ? 'Press Ctrl+C' : label}</span>
    </button>
  );
}

/** A credential shown once: selectable in full, with its copy button. */
export function OneTimeSecret({ value, testId, copyLabel }: { value: string; testId: string; copyLabel: string }) {
  return (
    <div className="mt-4 flex flex-col gap-3 sm:flex-row sm:items-center">
      <code
        data-testid={testId}
        className="block min-w-0 flex-1 select-all break-all rounded-tremor-small border border-amber-200 bg-white px-3 py-2 font-mono text-[13px] text-tremor-content-strong"
      >
        {value}
      </code>
      <CopyButton text={value} label={copyLabel} />
    </div>
  );
}
