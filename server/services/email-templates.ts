import type { AlertKind } from '../../db/schema.js';
import type { AlertContext } from './alert-context.js';
import { D } from './decimal.js';

/**
 * Alert emails: subject, plain text and HTML from the same facts the webhook carries.
 * Every value is interpolated into HTML through the `html` tag, which escapes it; only
 * fragments built by the tag itself pass through unescaped.
 */

export type RenderedEmail = { subject: string; text: string; html: string };

// ---------------------------------------------------------------------------------------
// HTML escaping

/** HTML built by the `html` tag: already escaped, safe to embed as is. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type HtmlValue = string | number | SafeHtml | null | undefined | readonly HtmlValue[];

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The five characters that matter in element content and quoted attributes (OWASP rule #1/#2). */
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

const renderValue = (value: HtmlValue): string => {
  if (value === null || value === undefined) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(renderValue).join('');
  return escapeHtml(String(value));
};

/** Tagged template: every interpolated value is escaped unless it is SafeHtml from this tag. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += renderValue(value) + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

/** Only http(s) links go into emails (never `javascript:` or `data:`); anything else is dropped. */
export function safeHttpUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// Facts

/** "1234567.5" → "1,234,567.5": exact (no float), grouped for reading. */
export function formatQuantity(value: string): string {
  const plain = new D(value).toFixed();
  const [whole, fraction] = plain.split('.');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return fraction ? `${grouped}.${fraction}` : grouped;
}

/**
 * used / limit as a percentage, rounded down to one decimal (99.96 % is not yet 100 %), with
 * more decimals where one would misstate the position: past the limit it reads above 100
 * (10.126 of 10.125 is "100.009", not "100"), and usage above zero never reads "0"
 * (5 of 10,000 is "0.05"). Null for a zero limit.
 */
export function usagePercent(used: string, limit: string): string | null {
  const l = new D(limit);
  if (l.isZero()) return null;
  const percent = new D(used).div(l).times(100);
  for (let places = 1; places <= 9; places++) {
    const shown = percent.toDecimalPlaces(places, D.ROUND_DOWN);
    if ((percent.greaterThan(100) && shown.lessThanOrEqualTo(100)) || (percent.greaterThan(0) && shown.isZero())) continue;
    return shown.toFixed();
  }
  return percent.toDecimalPlaces(9, D.ROUND_UP).toFixed();
}

/** A threshold (a fraction of the limit, "0.12345") as the percentage it is, exactly: "12.345". */
const fractionPercent = (fraction: string): string => new D(fraction).times(100).toFixed();

/**
 * Unambiguous for every reader, whatever their locale: "2025-04-01 00:00 UTC", with the
 * seconds when there are any (a Stripe billing anchor has them: a period ending at 09:30:45
 * is not over at 09:30).
 */
export function formatUtc(at: Date): string {
  const iso = at.toISOString();
  const length = at.getUTCMilliseconds() !== 0 ? 23 : at.getUTCSeconds() !== 0 ? 19 : 16;
  return `${iso.slice(0, length).replace('T', ' ')} UTC`;
}

/** Subjects are one header line: no line breaks, bounded length. */
const oneLine = (value: string, max = 200): string => {
  const flat = value.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

type KindWording = {
  /** The alert kind in words, as a heading: "Soft limit reached". */
  title: string;
  /** What happened, told to the creator about their customer. */
  creator: (f: Facts) => string;
  /** What happened, told to the customer. */
  customer: (f: Facts) => string;
  customerSubject: (f: Facts) => string;
};

type Facts = {
  userId: string;
  meterName: string;
  eventName: string;
  /** With the meter's unit: "850 calls". */
  used: string;
  limit: string;
  /** "850 of 1,000 calls". */
  amount: string;
  percent: string | null;
  threshold: string;
  periodEnd: string;
  creatorName: string;
};

/** "85% of their API calls limit (850 of 1,000 calls)"; a zero limit has no percentage. */
const share = (f: Facts, whose: 'their' | 'your') =>
  f.percent === null ? `${f.used} of ${f.meterName}, with a limit of ${f.limit}` : `${f.percent}% of ${whose} ${f.meterName} limit (${f.amount})`;
const percentUsed = (f: Facts) => (f.percent === null ? f.amount : `${f.percent}% used (${f.amount})`);

export const KIND_WORDING = {
  soft_limit_reached: {
    title: 'Soft limit reached',
    creator: (f) => `Customer ${f.userId} has used ${share(f, 'their')} this billing period, passing the ${f.threshold}% soft limit.`,
    customer: (f) => `You have used ${share(f, 'your')} this billing period.`,
    customerSubject: (f) => `You have used ${f.percent ?? f.threshold}% of your ${f.meterName} limit`,
  },
  hard_limit_reached: {
    title: 'Hard limit reached',
    creator: (f) =>
      `Customer ${f.userId} has reached the hard limit of ${f.meterName} (${f.amount}). Further usage is refused until the period ends on ${f.periodEnd} or their plan changes.`,
    customer: (f) => `You have reached your ${f.meterName} limit (${f.amount}). Further usage is blocked until ${f.periodEnd} or until your plan changes.`,
    customerSubject: (f) => `You have reached your ${f.meterName} limit`,
  },
  overage_started: {
    title: 'Overage started',
    creator: (f) => `Customer ${f.userId} has gone past their ${f.meterName} limit: ${percentUsed(f)}. Usage beyond the limit is billed as overage.`,
    customer: (f) => `You have gone past the ${f.meterName} included in your plan: ${percentUsed(f)}. Usage beyond the limit is billed as overage.`,
    customerSubject: (f) => `You are over your ${f.meterName} limit`,
  },
  threshold_reached: {
    title: 'Usage threshold reached',
    creator: (f) => `Customer ${f.userId} has used ${share(f, 'their')} this billing period, crossing the ${f.threshold}% alert threshold.`,
    customer: (f) => `You have used ${share(f, 'your')} this billing period.`,
    customerSubject: (f) => `You have used ${f.percent ?? f.threshold}% of your ${f.meterName} limit`,
  },
} satisfies Record<AlertKind, KindWording>;

function factsOf(ctx: AlertContext): Facts {
  const unit = ctx.meter.unitName ? ` ${ctx.meter.unitName}` : '';
  const used = formatQuantity(ctx.alert.used);
  const limit = formatQuantity(ctx.alert.limitValue);
  return {
    userId: ctx.customer.userId,
    meterName: ctx.meter.displayName,
    eventName: ctx.meter.eventName,
    used: `${used}${unit}`,
    limit: `${limit}${unit}`,
    amount: `${used} of ${limit}${unit}`,
    percent: usagePercent(ctx.alert.used, ctx.alert.limitValue),
    threshold: fractionPercent(ctx.alert.threshold),
    periodEnd: formatUtc(ctx.alert.periodEnd),
    creatorName: ctx.creator.name,
  };
}

/** The rows both emails show, in order: [label, value]. */
function factRows(ctx: AlertContext, f: Facts): Array<[string, string]> {
  const kind = KIND_WORDING[ctx.alert.kind];
  const alertWords = ctx.alert.kind === 'soft_limit_reached' || ctx.alert.kind === 'threshold_reached' ? `${kind.title.toLowerCase()} (${f.threshold}% of the limit)` : kind.title.toLowerCase();
  return [
    ['Meter', `${f.meterName} (${f.eventName})`],
    ['Customer', f.userId],
    ['Used', f.used],
    ['Limit', f.limit],
    ['Usage', f.percent === null ? '–' : `${f.percent}%`],
    ['Alert', alertWords],
    ['Period ends', f.periodEnd],
  ];
}

// ---------------------------------------------------------------------------------------
// Layout

const textTable = (rows: Array<[string, string]>): string => {
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => `  ${`${label}:`.padEnd(width)}${value}`).join('\n');
};

const htmlTable = (rows: Array<[string, string]>): SafeHtml =>
  html`<table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;margin:16px 0;font-size:14px">${rows.map(
    ([label, value]) => html`<tr><td style="padding:4px 16px 4px 0;color:#6b7280;white-space:nowrap">${label}</td><td style="padding:4px 0;color:#111827">${value}</td></tr>`,
  )}</table>`;

const button = (href: string, label: string): SafeHtml =>
  html`<p style="margin:24px 0"><a href="${href}" style="display:inline-block;background:#4f46e5;color:#ffffff;text-decoration:none;padding:10px 18px;border-radius:6px;font-weight:600">${label}</a></p>`;

function layout(title: string, body: SafeHtml, footer: string): string {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${title}</title></head>
<body style="margin:0;padding:0;background:#f3f4f6">
<div style="max-width:560px;margin:0 auto;padding:24px;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#111827;line-height:1.5">
<div style="background:#ffffff;border-radius:8px;padding:24px">
<h1 style="font-size:20px;margin:0 0 12px">${title}</h1>
${body}
</div>
<p style="font-size:12px;color:#6b7280;margin:16px 0 0">${footer}</p>
</div>
</body>
</html>
`.value;
}

// ---------------------------------------------------------------------------------------
// Emails

/** To the creator (or their alert address), about one of their customers. */
export function renderCreatorAlertEmail(ctx: AlertContext, links: { alertsUrl: string }): RenderedEmail {
  const f = factsOf(ctx);
  const kind = KIND_WORDING[ctx.alert.kind];
  const summary = kind.creator(f);
  const rows = factRows(ctx, f);
  const footer = 'You get this email because alert emails for this kind of alert are on in your Staryer Usage settings.';
  const subject = oneLine(`${kind.title}: ${f.userId} ${f.percent === null ? 'on' : `at ${f.percent}% of`} ${f.meterName}`);
  const text = [kind.title, '', summary, '', textTable(rows), '', `See all alerts: ${links.alertsUrl}`, '', `— ${footer}`, ''].join('\n');
  const body = html`<p style="margin:0">${summary}</p>${htmlTable(rows)}${button(links.alertsUrl, 'See all alerts')}`;
  return { subject, text, html: layout(kind.title, body, footer) };
}

/** To the end customer, on the creator's behalf: what happened and, when set, where to upgrade. */
export function renderCustomerAlertEmail(ctx: AlertContext): RenderedEmail {
  const f = factsOf(ctx);
  const kind = KIND_WORDING[ctx.alert.kind];
  const summary = kind.customer(f);
  const rows = factRows(ctx, f).map(([label, value]): [string, string] => (label === 'Customer' ? ['Account', value] : [label, value]));
  const upgradeUrl = safeHttpUrl(ctx.settings.upgradeUrl);
  const greeting = ctx.customer.name ? `Hi ${ctx.customer.name},` : 'Hi,';
  const next = upgradeUrl ? `Upgrade your plan: ${upgradeUrl}` : `To change your plan, contact ${f.creatorName}.`;
  const footer = `Sent on behalf of ${f.creatorName} because your usage of ${f.meterName} crossed an alert threshold.`;
  const subject = oneLine(`[${f.creatorName}] ${kind.customerSubject(f)}`);
  const text = [greeting, '', summary, '', textTable(rows), '', next, '', `— ${footer}`, ''].join('\n');
  const body = html`<p style="margin:0 0 12px">${greeting}</p><p style="margin:0">${summary}</p>${htmlTable(rows)}${
    upgradeUrl ? button(upgradeUrl, 'Upgrade your plan') : html`<p style="margin:16px 0 0">To change your plan, contact ${f.creatorName}.</p>`
  }`;
  return { subject, text, html: layout(kind.title, body, footer) };
}

/** A system notice to the creator from plain text: paragraphs split on blank lines, all escaped. */
export function renderNoticeHtml(subject: string, text: string): string {
  const paragraphs = text
    .trim()
    .split(/\n\s*\n/)
    .map((p) => html`<p style="margin:0 0 12px">${p.split('\n').map((line, i) => (i === 0 ? html`${line}` : html`<br>${line}`))}</p>`);
  return layout(oneLine(subject), html`${paragraphs}`, 'A notice from Staryer Usage about your account.');
}

export const emailSubject = oneLine;
