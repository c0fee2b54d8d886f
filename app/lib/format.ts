const DATE = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeZone: 'UTC' });
const DATE_TIME = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

/** UTC on purpose: server and browser render the same text, so hydration matches. */
export function formatDateTime(iso: string | null): string {
  if (!iso) return '—';
  return `${DATE_TIME.format(new Date(iso))} UTC`;
}

export function formatDate(iso: string): string {
  return DATE.format(new Date(iso));
}

const DAY_PARTS = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

function dayParts(at: Date): { day: string; month: string; year: string } {
  const parts = DAY_PARTS.formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  return { day: part('day'), month: part('month'), year: part('year') };
}

/**
 * The days from `first` to `last` (UTC), as short as reads clearly: "1–30 Nov 2026",
 * "31 Oct – 30 Nov 2026", "15 Dec 2026 – 14 Jan 2027", "5 Nov 2026". Built from parts
 * rather than Intl's formatRange, whose spacing (thin spaces or not) differs between ICU
 * versions — the server's and the browser's — and broke hydration.
 */
export function formatDayRange(first: Date, last: Date): string {
  const a = dayParts(first);
  const b = dayParts(last);
  if (a.year !== b.year) return `${a.day} ${a.month} ${a.year} – ${b.day} ${b.month} ${b.year}`;
  if (a.month !== b.month) return `${a.day} ${a.month} – ${b.day} ${b.month} ${b.year}`;
  if (a.day !== b.day) return `${a.day}–${b.day} ${b.month} ${b.year}`;
  return `${b.day} ${b.month} ${b.year}`;
}

const MONTH = new Intl.DateTimeFormat('en-GB', { month: 'short', year: 'numeric', timeZone: 'UTC' });

/**
 * A billing period [start, end) in a few words: "Nov 2026" when it is exactly that calendar
 * month (UTC), else the days it covers ("15 Nov – 14 Dec 2026", "1–14 Nov 2026"): periods of
 * an anchored customer, or two periods in one month after the anchor changed, each read as
 * themselves rather than as the month they start in.
 */
export function formatPeriodLabel(start: Date, end: Date): string {
  if (isCalendarMonth(start, end)) return MONTH.format(start);
  return formatDayRange(start, new Date(Math.max(start.getTime(), end.getTime() - 1)));
}

/**
 * A billing period as a chart's axis tick: "Nov" for a calendar month, else the day it starts
 * ("15 Nov"). A whole label ("15 Nov – 14 Dec 2026") takes ~150 px, so a half-width chart of
 * a few periods could show one of them; the tooltip and the table beside give the whole label.
 * The charts hold the last seven periods at most, so no tick stands for two of them.
 */
export function formatPeriodTick(start: Date, end: Date): string {
  const { day, month } = dayParts(start);
  return isCalendarMonth(start, end) ? month : `${day} ${month}`;
}

/** [start, end) is exactly one calendar month (UTC). */
function isCalendarMonth(start: Date, end: Date): boolean {
  const nextMonth = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  return start.getTime() === Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1) && end.getTime() === nextMonth.getTime();
}

/** A real calendar day written YYYY-MM-DD, in 2000–2999 (Date.parse takes 2026-02-30 as 2 March). */
export function isCalendarDay(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const parsed = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === text && text >= '2000-01-01' && text <= '2999-12-31';
}

/**
 * Singular of the English plurals a unit name is commonly typed as ("calls", "API calls",
 * "seconds"): a fixed list, so a unit name we do not know ("GB", "ms", "kWh", "data",
 * "series", a word in another language) is never turned into a wrong word — it stays as typed.
 */
const SINGULAR_UNITS: Record<string, string> = Object.fromEntries(
  [
    'calls', 'requests', 'events', 'messages', 'emails', 'tokens', 'credits', 'seats', 'users', 'visitors',
    'customers', 'members', 'tickets', 'pages', 'exports', 'imports', 'jobs', 'tasks', 'runs', 'builds',
    'invocations', 'executions', 'hits', 'views', 'clicks', 'downloads', 'uploads', 'files', 'images', 'documents',
    'reports', 'records', 'rows', 'items', 'units', 'points', 'actions', 'operations', 'transactions', 'orders',
    'notifications', 'alerts', 'sessions', 'projects', 'workspaces', 'devices', 'licenses', 'licences', 'agents',
    'bytes', 'kilobytes', 'megabytes', 'gigabytes', 'terabytes', 'words', 'characters', 'lines', 'minutes',
    'seconds', 'milliseconds', 'hours', 'days', 'weeks', 'months', 'years', 'endpoints', 'values', 'things',
    'generations', 'completions', 'prompts', 'conversations', 'chats', 'texts',
  ].map((plural) => [plural, plural.slice(0, -1)]),
);
Object.assign(SINGULAR_UNITS, { queries: 'query', entries: 'entry', batches: 'batch', searches: 'search', addresses: 'address', boxes: 'box' });

/**
 * A meter's unit as it reads after a quantity as shown: singular after a plain "1" ("1 call",
 * "1 API call", "1 second"), as typed otherwise ("0 calls", "1.5 calls", "1.0 calls", "1K calls",
 * "1 GB"). Judged on the text shown, so a 1.0004 shown rounded as "1" reads "1 call". Only
 * the last word changes, and only when it is a plural in SINGULAR_UNITS, in the case it was
 * typed in ("Calls" → "Call", "CALLS" → "CALL").
 */
export function unitFor(shown: string | number, unit: string): string {
  if (String(shown).trim() !== '1') return unit;
  const match = /^(.*?)([A-Za-z]+)$/.exec(unit);
  if (!match) return unit;
  const [, head, word] = match as unknown as [string, string, string];
  const singular = SINGULAR_UNITS[word.toLowerCase()];
  if (!singular) return unit;
  const cased =
    word === word.toUpperCase() && word.length > 1
      ? singular.toUpperCase()
      : word[0] === word[0]!.toUpperCase()
        ? singular[0]!.toUpperCase() + singular.slice(1)
        : singular;
  return head + cased;
}
