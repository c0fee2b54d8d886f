import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { loginThroughForm } from './harness/dashboard.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { applyRollupJobs } from './harness/rollups.js';
import { useTestServer } from './harness/server.js';

const { url } = await useTestDatabase();
const server = useTestServer(url, { pages: true, env: { AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000' } });

const raw = (path: string, init: RequestInit = {}) => fetch(server().url + path, { redirect: 'manual', ...init });

async function creator() {
  const password = 'a sound passphrase';
  const { creator, apiKey, email } = await createCreatorWithKey(server().rt, { password });
  const cookie = await loginThroughForm(server().url, email, password);
  const page = async (path: string) => {
    const r = await raw(path, { headers: { cookie } });
    return { status: r.status, html: await r.text(), location: r.headers.get('location') };
  };
  const csrfOf = async (path: string) => /name="csrf" value="([^"]+)"/.exec((await page(path)).html)![1]!;
  const post = async (path: string, fields: Record<string, string>) => {
    const csrf = await csrfOf('/creator/dashboard/usage');
    const r = await raw(path, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, ...fields }).toString() });
    return { status: r.status, html: await r.text(), location: r.headers.get('location') };
  };
  return { creator, call: api(server().url, apiKey), page, post, cookie };
}

const D = '/creator/dashboard/usage';



/** The page's visible text, tags dropped (React's <!-- --> separators too). */
const text = (html: string) => html.replace(/<script[\s\S]*?<\/script>/g, ' ').replace(/<!-- -->/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

describe('Billing: the report-interval field says what a valid value is', () => {
  it('an emptied (or fractional) report interval is refused with a message naming the valid range, not "expected number, received NaN"', async () => {
    const c = await creator();
    for (const typed of ['', '1.5']) {
      const res = await c.post(`${D}/billing`, { intent: 'stripe-settings', report_interval_minutes: typed });
      expect(res.status).toBe(422);
      const messages = [...res.html.matchAll(/class="mt-1\.5 text-tremor-label text-red-600">([^<]*)</g)].map((m) => m[1]!);
      expect(messages, `field messages for ${JSON.stringify(typed)}`).toHaveLength(1);
      // The Settings page's grace field answers "must be a whole number of hours"; here zod's
      // default for NaN / a fraction reached the creator ("Invalid input: expected number, received NaN").
      expect(messages[0]).not.toMatch(/NaN|Invalid input|expected (number|int)/);
      expect(messages[0]).toMatch(/1440/);
    }
  });
});

describe('Top users: a page number without its cursor', () => {
  it('?page=5 without a cursor shows the first page ranked from 1, not "Showing 101–102" of 2 customers', async () => {
    const c = await creator();
    const meter = await createMeter(c.call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    for (const user of ['ann', 'bob']) expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: user })).status).toBe(201);
    const page = await c.page(`${D}/customers?meter=${meter.id}&page=5`);
    expect(page.status).toBe(200);
    const summary = text(/data-testid="top-summary"[^>]*>([\s\S]*?)<\/p>/.exec(page.html)?.[1] ?? '');
    // The rows are the first page (no cursor), so they are ranks 1 and 2.
    expect(summary).toContain('2 customers with usage of calls');
    expect(summary).toContain('Showing 1–2');
  });
});

describe('Customer page: the customer’s alerts', () => {
  it('a customer with more alerts than the card shows gets a way to all of them (the card silently stopped at 20)', async () => {
    const c = await creator();
    const thresholds = ['0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9', '0.95'];
    for (const name of ['calls', 'tokens']) {
      await createMeter(c.call, {
        event_name: name,
        display_name: name,
        aggregation_type: 'sum',
        unit_name: name,
        alert_thresholds: thresholds,
        plan_limits: [{ plan_name: 'free', limit_value: 10, overage_price: '1', soft_limit_threshold: '0.05' }],
      });
    }
    expect((await c.call('PUT', '/api/usage/customers/ann', { plan_name: 'free' })).status).toBe(201);
    for (const name of ['calls', 'tokens']) expect((await c.call('POST', '/api/usage/track', { event_name: name, user_id: 'ann', value: 20 })).status).toBe(201);
    const all = (await c.call('GET', '/api/usage/alerts?user_id=ann&limit=100')).json.alerts as unknown[];
    expect(all.length).toBeGreaterThan(20);
    const page = await c.page(`${D}/customers/ann`);
    expect(page.status).toBe(200);
    const shown = page.html.match(/data-testid="customer-alert"/g)?.length ?? 0;
    expect(shown).toBeGreaterThan(0);
    // 20 rows of more, with nothing saying so nor a link to this customer's alerts list.
    const linksToAll = /href="\/creator\/dashboard\/usage\/alerts\?user_id=ann"/.test(page.html);
    expect(shown === all.length || linksToAll, `${shown} of ${all.length} alerts shown, no link to the rest`).toBe(true);
  });
});

describe('Trends: a unique meter says how its points count', () => {
  it('a unique meter’s chart explains that a value counts once per billing period; a count meter’s does not', async () => {
    const c = await creator();
    const unique = await createMeter(c.call, { event_name: 'visitors', display_name: 'Visitors', aggregation_type: 'unique', unit_name: 'visitors' });
    const count = await createMeter(c.call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    const uniquePage = await c.page(`${D}/trends?meter=${unique.id}`);
    expect(uniquePage.status).toBe(200);
    expect(text(/data-testid="trends-unique-note"[^>]*>([\s\S]*?)<\/p>/.exec(uniquePage.html)?.[1] ?? '')).toMatch(/first seen in its customer’s billing period/);
    const countPage = await c.page(`${D}/trends?meter=${count.id}`);
    expect(countPage.status).toBe(200);
    expect(countPage.html).not.toContain('trends-unique-note');
  });
});

describe('Charts have their figures as tables (a screen reader cannot read an SVG chart)', () => {
  it('the overview’s events per minute and the customer page’s history each carry a table of what they draw', async () => {
    const c = await creator();
    await createMeter(c.call, { event_name: 'storage', display_name: 'Storage', aggregation_type: 'sum', unit_name: 'GB' });
    expect((await c.call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'ann', value: '2.25' })).status).toBe(201);
    await applyRollupJobs(server().rt, c.creator.id);

    const overview = await c.page(D);
    expect(overview.status).toBe(200);
    const minutes = /data-testid="events-per-minute-table"[\s\S]*?<\/details>/.exec(overview.html)?.[0] ?? '';
    expect(text(minutes)).toMatch(/Show as a table Events per minute, the last hour \(UTC\) Minute \(UTC\) Events \d\d:\d\d UTC 0/);

    const customer = await c.page(`${D}/customers/ann`);
    expect(customer.status).toBe(200);
    const periods = /data-testid="history-periods-table"[\s\S]*?<\/details>/.exec(customer.html)?.[0] ?? '';
    expect(text(periods)).toMatch(/Period GB \w+ \d{4} \(now\) 2\.25/);
    const days = /data-testid="history-days-table"[\s\S]*?<\/details>/.exec(customer.html)?.[0] ?? '';
    expect(text(days)).toMatch(/Day \(UTC\) GB \d+ \w+ 2\.25/);
  });
});

describe('Customer page: billing periods read as themselves', () => {
  it('two periods in one month (the billing anchor moved mid-month) are labelled by their days, not both by the month', async () => {
    const c = await creator();
    const meter = await createMeter(c.call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
    // Last month: the calendar period until the 15th, when the anchor moved, then a period from the 15th
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
    const moved = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 15));
    const thisMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    await server().rt.ownerDb.execute(sql`
      insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count)
      select ${c.creator.id}, ${meter.id}, customer_id, 'period', s, e, v, v from customers,
        (values (${monthStart.toISOString()}::timestamptz, ${moved.toISOString()}::timestamptz, 3), (${moved.toISOString()}::timestamptz, ${thisMonth.toISOString()}::timestamptz, 4)) p(s, e, v)
      where creator_id = ${c.creator.id} and user_id = 'ann'`);
    const customer = await c.page(`${D}/customers/ann`);
    expect(customer.status).toBe(200);
    const periods = text(/data-testid="history-periods-table"[\s\S]*?<\/details>/.exec(customer.html)?.[0] ?? '');
    const month = new Intl.DateTimeFormat('en-GB', { month: 'short', timeZone: 'UTC' }).format(monthStart);
    const year = monthStart.getUTCFullYear();
    const lastDay = new Date(thisMonth.getTime() - 1).getUTCDate();
    // Before: "Oct 2026 3 Oct 2026 4" — two bars of one name
    expect(periods).toContain(`1–14 ${month} ${year} 3`);
    expect(periods).toContain(`15–${lastDay} ${month} ${year} 4`);
    // This period, a calendar month, keeps its month's name
    expect(periods).toMatch(new RegExp(`${new Intl.DateTimeFormat('en-GB', { month: 'short', year: 'numeric', timeZone: 'UTC' }).format(thisMonth)} \\(now\\) 1`));
  });
});

describe('Customer page: the charts’ meter and the events explorer’s filters keep each other', () => {
  it('a chart tab keeps the explorer’s filters and page; filtering and paging keep the chart’s meter', async () => {
    const c = await creator();
    const calls = await createMeter(c.call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    const storage = await createMeter(c.call, { event_name: 'storage', display_name: 'Storage', aggregation_type: 'sum', unit_name: 'GB' });
    for (const body of [{ event_name: 'calls', user_id: 'ann', properties: { endpoint: '/v1/search' } }, { event_name: 'storage', user_id: 'ann', value: 2 }]) {
      expect((await c.call('POST', '/api/usage/track', body)).status).toBe(201);
    }
    const page = await c.page(`${D}/customers/ann?meter=${calls.id}&key=endpoint&value=%2Fv1%2Fsearch&chart=${storage.id}`);
    expect(page.status).toBe(200);
    const decode = (href: string) => new URLSearchParams(href.replace(/&amp;/g, '&').split('?')[1]!.split('#')[0]);
    // The tab of the other meter: same filters, the chart switched.
    const tabs = [...page.html.matchAll(/<a[^>]*href="([^"]*chart=[^"]*#history)"/g)].map((m) => decode(m[1]!));
    const toCalls = tabs.find((q) => q.get('chart') === calls.id);
    expect(toCalls, 'a tab for the calls meter').toBeDefined();
    expect(Object.fromEntries(toCalls!)).toEqual({ meter: calls.id, key: 'endpoint', value: '/v1/search', chart: calls.id });
    // The filter form carries the chart's meter along.
    expect(page.html).toMatch(new RegExp(`<input type="hidden" name="chart" value="${storage.id}"/>`));
  });
});
