import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from '@playwright/test';
import { createAdminKeyInBrowser, DASHBOARD, expect, newCreator, rest, signUpInBrowser, test } from './fixtures';

/** Screenshots of each page as checked (and the seeded login state), for a person to look at after a failure. */
const OUT = path.join(os.tmpdir(), 'staryer-e2e-dashboard-layout');
mkdirSync(OUT, { recursive: true });

type Seeded = { apiKey: string; state: string; meters: Record<string, string>; alertId?: string };
let seeded: Seeded | null = null;

const DAY = 86_400_000;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

async function seed(browser: Browser, baseURL: string): Promise<Seeded> {
  if (seeded) return seeded;
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  const creator = newCreator('ui-review');
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  const apiKey = await createAdminKeyInBrowser(page);
  const ok = (r: { status: number; text: string }) => expect(r.status, r.text).toBeLessThan(300);
  ok(await rest(baseURL, apiKey, 'PUT', '/api/usage/settings', { default_plan: 'starter', late_event_grace_hours: 840 }));
  const meters: Record<string, string> = {};
  const defs = [
    {
      event_name: 'api_calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls', rollup_dimensions: ['endpoint'],
      plan_limits: [
        { plan_name: 'starter', limit_value: '1000', overage_price: '0.015', soft_limit_threshold: '0.8' },
        { plan_name: 'pro', limit_value: '100000', overage_price: '0.001' },
        { plan_name: 'free', limit_value: '50', hard_cap: true },
      ],
    },
    {
      event_name: 'storage_bytes', display_name: 'Storage used (peak)', aggregation_type: 'max', unit_name: 'bytes',
      plan_limits: [
        { plan_name: 'starter', limit_value: '5000000000', overage_price: '0.00000002' },
        { plan_name: 'pro', limit_value: '50000000000' },
      ],
    },
    {
      event_name: 'tokens', display_name: 'LLM tokens generated', aggregation_type: 'sum', unit_name: 'tokens',
      plan_limits: [
        { plan_name: 'starter', limit_value: '250000', overage_price: '0.00002', soft_limit_threshold: '0.9' },
        { plan_name: 'pro', limit_value: '10000000', overage_price: '0.000015' },
      ],
    },
    {
      event_name: 'active_seats', display_name: 'Active seats', aggregation_type: 'unique', unit_name: 'seats', unique_property: 'member_id',
      plan_limits: [
        { plan_name: 'starter', limit_value: '3', overage_price: '12.5' },
        { plan_name: 'pro', limit_value: '25', overage_price: '9.99' },
      ],
    },
    {
      event_name: 'transcode', display_name: 'Video transcoding time', aggregation_type: 'duration', unit_name: 'minutes',
      plan_limits: [
        { plan_name: 'starter', limit_value: '120', overage_price: '0.05' },
        { plan_name: 'pro', limit_value: '6000', overage_price: '0.03' },
      ],
    },
  ];
  for (const def of defs) {
    const r = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', def);
    ok(r);
    meters[def.event_name] = r.body.id as string;
  }
  const customers = [
    ['acme-corp', { plan_name: 'pro', email: 'billing@acme-corporation-international.example', name: 'Acme Corporation International Holdings Ltd.', stripe_customer_id: 'cus_Acme123456789' }],
    ['globex', { plan_name: 'starter', email: 'ops@globex.example', name: 'Globex' }],
    ['initech', { plan_name: 'starter', email: 'peter@initech.example', name: 'Initech' }],
    ['hooli', { plan_name: 'free', email: 'gavin@hooli.example', name: 'Hooli' }],
    ['user_2f8a9c1e-7b3d-4e5f-a6b7-c8d9e0f1a2b3-very-long-identifier', { plan_name: 'starter', name: 'Long id customer' }],
    ['umbrella', { plan_name: 'pro', email: 'it@umbrella.example', name: 'Umbrella' }],
  ] as const;
  for (const [id, fields] of customers) ok(await rest(baseURL, apiKey, 'PUT', `/api/usage/customers/${encodeURIComponent(id)}`, fields));

  const events: Array<Record<string, unknown>> = [];
  const endpoints = ['/v1/search', '/v1/chat/completions', '/v1/embeddings', '/v1/items'];
  // Days ago within the current month (today is late in the month); a few last month too.
  for (let d = 0; d < 10; d++) {
    const ago = d * DAY + 3_600_000;
    for (let i = 0; i < 12 + d * 3; i++) events.push({ event_name: 'api_calls', user_id: 'globex', timestamp: iso(ago + i * 60_000), properties: { endpoint: endpoints[i % 4] } });
    for (let i = 0; i < 40; i++) events.push({ event_name: 'api_calls', user_id: 'acme-corp', timestamp: iso(ago + i * 30_000), properties: { endpoint: endpoints[(i + d) % 4] } });
    for (let i = 0; i < 6; i++) events.push({ event_name: 'api_calls', user_id: 'hooli', timestamp: iso(ago + i * 45_000), properties: { endpoint: '/v1/search' } });
    events.push({ event_name: 'tokens', user_id: 'globex', value: String(12345.678 + d * 1000), timestamp: iso(ago) });
    events.push({ event_name: 'tokens', user_id: 'acme-corp', value: String(512_000 + d * 77_777), timestamp: iso(ago) });
    events.push({ event_name: 'tokens', user_id: 'initech', value: '31000.5', timestamp: iso(ago) });
    events.push({ event_name: 'storage_bytes', user_id: 'globex', value: String(1_200_000_000 + d * 500_000_000), timestamp: iso(ago) });
    events.push({ event_name: 'storage_bytes', user_id: 'acme-corp', value: String(21_474_836_480 + d), timestamp: iso(ago) });
    events.push({ event_name: 'transcode', user_id: 'initech', value: String(900 + d * 60), timestamp: iso(ago) }); // seconds
    events.push({ event_name: 'transcode', user_id: 'acme-corp', value: '5400', timestamp: iso(ago) });
    events.push({ event_name: 'active_seats', user_id: 'globex', properties: { member_id: `m${d % 5}` }, timestamp: iso(ago) });
    events.push({ event_name: 'active_seats', user_id: 'initech', properties: { member_id: `m${d % 2}` }, timestamp: iso(ago) });
    events.push({ event_name: 'api_calls', user_id: 'user_2f8a9c1e-7b3d-4e5f-a6b7-c8d9e0f1a2b3-very-long-identifier', timestamp: iso(ago), properties: { endpoint: '/v1/search' } });
  }
  // Last month: closed period for revenue what-if and previous-period views.
  const now = new Date();
  const lastMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 10, 12);
  for (let d = 0; d < 15; d++) {
    for (let i = 0; i < 80; i++) events.push({ event_name: 'api_calls', user_id: 'globex', timestamp: new Date(lastMonth + d * DAY + i * 60_000).toISOString(), properties: { endpoint: endpoints[i % 4] } });
    events.push({ event_name: 'tokens', user_id: 'globex', value: '25000', timestamp: new Date(lastMonth + d * DAY).toISOString() });
  }
  for (let i = 0; i < events.length; i += 1000) {
    const r = await rest(baseURL, apiKey, 'POST', '/api/usage/track', events.slice(i, i + 1000));
    ok(r);
    const failed = (r.body.results as Array<{ status: number; error?: unknown }>).filter((x) => x.status >= 300);
    // hooli hits the hard cap: 402s are expected
    expect(failed.filter((f) => f.status !== 402), JSON.stringify(failed.slice(0, 3))).toEqual([]);
  }
  const alerts = await rest(baseURL, apiKey, 'GET', '/api/usage/alerts');
  const alertId = (alerts.body.alerts as Array<{ id: string }>)[0]?.id;
  const state = `${OUT}/state.json`;
  await context.storageState({ path: state });
  await context.close();
  seeded = { apiKey, state, meters, alertId };
  return seeded;
}


/** A logged-in page of the seeded creator at the given width. */
async function openAs(browser: Browser, baseURL: string | undefined, width: 1280 | 390): Promise<{ context: BrowserContext; page: Page; s: Seeded }> {
  const s = await seed(browser, baseURL!);
  const context = await browser.newContext({ baseURL, storageState: s.state, viewport: { width, height: width === 390 ? 844 : 900 } });
  return { context, page: await context.newPage(), s };
}

const sideways = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

/** Tick labels of a Tremor (recharts) chart's y axis that start left of the chart's own box: cut off on screen. */
async function clippedYTicks(chart: Locator): Promise<string[]> {
  await chart.locator('.recharts-yAxis .recharts-cartesian-axis-tick-value').first().waitFor();
  return chart.evaluate((root) => {
    const svg = root.querySelector('svg.recharts-surface')!;
    const left = svg.getBoundingClientRect().left;
    return Array.from(root.querySelectorAll('.recharts-yAxis .recharts-cartesian-axis-tick-value'))
      .filter((t) => t.getBoundingClientRect().left < left - 0.5)
      .map((t) => t.textContent ?? '');
  });
}

// The Alerts list at 1280 px: the creator sees the last column (Acknowledge / Details) cut
// off at the card's right edge, a sliver of each button showing, and the whole page scrolls
// sideways (52 px at 1280, ~670 px at 390) because the buttons' screen-reader-only labels
// escape the table's scroll box. They should see both buttons of every row, and no page scroll.
test('Alerts: row actions are on screen at 1280 px and the page never scrolls sideways', async ({ browser, baseURL }) => {
  test.setTimeout(180_000);
  for (const width of [1280, 390] as const) {
    const { context, page } = await openAs(browser, baseURL, width);
    await page.goto(`${DASHBOARD}/alerts`);
    await expect(page.getByTestId('alert-row').first()).toBeVisible();
    await page.screenshot({ path: `${OUT}/finding-alerts-${width}.png`, fullPage: true });
    expect(await sideways(page), `page scrolls sideways at ${width} px`).toBeLessThanOrEqual(0);
    if (width === 1280) {
      const card = await page.getByRole('table', { name: 'Alerts' }).locator('xpath=ancestor::div[contains(@class,"tremor-Card-root")][1]').boundingBox();
      const details = await page.getByTestId('alert-row').first().getByRole('link', { name: /^Details/ }).boundingBox();
      expect(details!.x + details!.width, 'Details button inside the card').toBeLessThanOrEqual(card!.x + card!.width);
    }
    await context.close();
  }
});

// API keys and Settings on a phone: the creator can drag the whole page sideways (to 752 px
// on API keys, 458 px on Settings) into blank space, because the tables' screen-reader-only
// "Actions" / "Backlog" / button labels are absolutely positioned outside their scroll box.
// The page should stay 390 px wide, the tables scrolling inside their cards.
test('API keys and Settings at 390 px: no sideways page scroll', async ({ browser, baseURL }) => {
  const { context, page } = await openAs(browser, baseURL, 390);
  const widths: Record<string, number> = {};
  for (const name of ['keys', 'settings']) {
    await page.goto(`${DASHBOARD}/${name}`);
    await page.screenshot({ path: `${OUT}/finding-${name}-390.png`, fullPage: true });
    widths[name] = await sideways(page);
  }
  expect(widths).toEqual({ keys: 0, settings: 0 });
  await context.close();
});

// Trends of a meter in the millions (tokens here, bytes likewise): the y axis reads
// ",400,000", ",050,000" — the leading digits are cut off because every digit is printed
// into a fixed 64 px axis. The creator should read the whole value (e.g. "1.4M" or a wider axis).
test('Trends: y-axis labels of large values are not cut off', async ({ browser, baseURL }) => {
  for (const width of [1280, 390] as const) {
    const { context, page, s } = await openAs(browser, baseURL, width);
    await page.goto(`${DASHBOARD}/trends?meter=${s.meters.tokens}&range=30d`);
    const chart = page.getByTestId('trend-chart');
    await chart.screenshot({ path: `${OUT}/finding-trends-axis-${width}.png` });
    expect(await clippedYTicks(chart), `cut-off y-axis labels at ${width} px`).toEqual([]);
    await context.close();
  }
});

// Trends with "Compare with the previous range" ticked and "Break down by: Plan": the chart
// shows "This range" against "Previous range" only, and the split by plan the creator chose is
// gone without a word. With a property breakdown, Compare stays ticked while the page compares
// nothing and the Previous range card says "Tick “Compare” to see it". The creator should see
// the plans and the comparison together, and be told when (and why) a comparison is not made.
test('Trends: Compare keeps the plan breakdown, and says when a property breakdown cannot be compared', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL, 1280);
  await page.goto(`${DASHBOARD}/trends?meter=${s.meters.api_calls}&range=30d`);
  await page.getByLabel('Break down by').selectOption('plan');
  await expect(page).toHaveURL(/breakdown=plan/);
  await page.getByLabel('Compare with the previous range').check();
  await expect(page).toHaveURL(/compare=on/);

  // The comparison is made…
  await expect(page.getByTestId('trend-previous')).toBeVisible();
  const comparison = page.getByTestId('trend-chart');
  await expect(comparison.getByText('Previous range', { exact: true })).toBeVisible();
  // …and the plans are still charted, each named in the legend.
  const byPlan = page.getByTestId('trend-breakdown-chart');
  for (const plan of ['starter', 'pro', 'free']) await expect(byPlan.getByText(plan, { exact: true })).toBeVisible();
  await page.getByText('Show as a table').click();
  for (const column of ['starter', 'pro', 'free', 'This range', 'Previous range']) await expect(page.getByRole('columnheader', { name: column, exact: true })).toBeVisible();
  await page.screenshot({ path: `${OUT}/finding-trends-compare-plan-1280.png`, fullPage: true });

  // A property breakdown with Compare ticked: the page says the comparison is not made, and how to get it.
  await page.getByLabel('Break down by').selectOption('dim:endpoint');
  await expect(page).toHaveURL(/breakdown=dim%3Aendpoint/);
  await expect(page.getByLabel('Compare with the previous range')).toBeChecked();
  const notice = page.getByTestId('trends-compare-refused');
  await expect(notice).toBeVisible();
  await expect(notice).toContainText('Not compared with the previous range');
  await expect(notice).toContainText('choose “Nothing (total)” or “Plan” under “Break down by”');
  await expect(page.getByTestId('trend-previous')).toHaveCount(0);
  await expect(page.getByText('Tick “Compare” to see it.')).toHaveCount(0);
  await page.screenshot({ path: `${OUT}/finding-trends-compare-property-1280.png`, fullPage: true });
  await context.close();
});

// A customer's History charts (globex, tokens: ~380,000 in October): the y axis shows
// "380,000" with its first digit cut ("80,000", "85,000"), and bytes meters show only
// ",000,000". The creator should see whole axis labels.
test('Customer page: History chart y-axis labels are not cut off', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL, 1280);
  await page.goto(`${DASHBOARD}/customers/globex?chart=${s.meters.tokens}`);
  const history = page.locator('#history');
  await history.screenshot({ path: `${OUT}/finding-customer-history-axis-1280.png` });
  const charts = history.locator('.tremor-BarChart, [class*="recharts-responsive-container"]').first().locator('xpath=..');
  expect(await clippedYTicks(charts)).toEqual([]);
  await context.close();
});

// Overview, "Customers near or over a limit": the figures carry the meter's event name as if
// it were the unit — "5 of 3 active_seats", "5,700,000,000 of 5,000,000,000 storage_bytes" —
// while the customer page says "5 / 3 seats". The creator should read the unit ("5 of 3 seats").
test('Overview: the near/over-limit list states quantities in the meter unit', async ({ browser, baseURL }) => {
  const { context, page } = await openAs(browser, baseURL, 1280);
  await page.goto(DASHBOARD);
  const seats = page.getByTestId('attention-globex').filter({ hasText: 'active_seats' });
  await expect(seats).toBeVisible({ timeout: 15_000 });
  await page.getByTestId('attention').screenshot({ path: `${OUT}/finding-overview-attention-1280.png` });
  await expect(seats).toContainText('5 of 3 seats');
  await context.close();
});

// Meters list, "This period" of the unique meter (Active seats): blank except "2 customers
// metered", while the overview's "Meters this period" shows "7 seats" for the same meter.
// The creator should see the usage figure for every aggregation type.
test('Meters: a unique meter shows this period’s usage like the overview does', async ({ browser, baseURL }) => {
  const { context, page } = await openAs(browser, baseURL, 1280);
  await page.goto(DASHBOARD);
  await expect(page.getByTestId('overview-meter-active_seats').getByTestId('meter-used')).toContainText('7 seats', { timeout: 15_000 });
  await page.goto(`${DASHBOARD}/meters`);
  const row = page.locator('[data-testid="meter-row"][data-event-name="active_seats"]');
  await row.screenshot({ path: `${OUT}/finding-meters-unique-1280.png` });
  await expect(row).toContainText('7 seats');
  await context.close();
});

// Meters list, "Plan limits": overage prices are bare numbers per "unit" — "0.015/unit over",
// "0.00000002/unit over" — while Revenue, Top users and the customer page show them as money
// ("then $0.015 each", "at $0.25 each"). The creator should see "$0.015" here too.
test('Meters: overage prices are shown as money, as on every other page', async ({ browser, baseURL }) => {
  const { context, page } = await openAs(browser, baseURL, 1280);
  await page.goto(`${DASHBOARD}/meters`);
  const row = page.locator('[data-testid="meter-row"][data-event-name="api_calls"]');
  await expect(row).toContainText('starter');
  await expect(row).toContainText('$0.015');
  await context.close();
});

// Meters list at 1280 px: the "Created" column is cut ("27 Nov 202") and each row's Edit
// button is outside the card, reachable only by scrolling the table sideways — though the
// code means the table to "fit beside its actions". The creator should see Edit on every row.
test('Meters: the Edit button of each row is on screen at 1280 px', async ({ browser, baseURL }) => {
  const { context, page } = await openAs(browser, baseURL, 1280);
  // Once the period figures have caught up (the list shows every meter's usage):
  await expect(async () => {
    await page.goto(`${DASHBOARD}/meters`);
    await expect(page.locator('[data-testid="meter-row"][data-event-name="storage_bytes"]')).toContainText('largest', { timeout: 1000 });
  }).toPass({ timeout: 45_000 });
  await page.screenshot({ path: `${OUT}/finding-meters-1280.png` });
  const card = await page.getByRole('table', { name: 'Meters' }).locator('xpath=ancestor::div[contains(@class,"tremor-Card-root")][1]').boundingBox();
  const edit = await page.getByTestId('meter-row').first().getByRole('link', { name: /^Edit/ }).boundingBox();
  expect(edit!.x + edit!.width).toBeLessThanOrEqual(card!.x + card!.width);
  await context.close();
});

// Meters page says "Usage is this billing period’s across customers, refreshed every few
// seconds", but it neither polls nor is fresh on load: opened right after the first events,
// it shows "No usage yet" for a meter that has usage (the overview's cached period figures,
// up to 30 s old) and keeps showing it. The creator should see the usage appear without a reload.
test('Meters: usage of a new meter appears, as the page promises, without a reload', async ({ page, creator, baseURL }) => {
  test.setTimeout(90_000);
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  const apiKey = await createAdminKeyInBrowser(page);
  const meter = await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [] });
  expect(meter.status, meter.text).toBe(201);
  const tracked = await rest(baseURL!, apiKey, 'POST', '/api/usage/track', [1, 2, 3].map(() => ({ event_name: 'api_calls', user_id: 'u1' })));
  expect(tracked.status, tracked.text).toBe(200);
  await page.goto(`${DASHBOARD}/meters`);
  const row = page.locator('[data-testid="meter-row"][data-event-name="api_calls"]');
  await page.screenshot({ path: `${OUT}/finding-meters-stale-1280.png` });
  await expect(row).toContainText('3 calls', { timeout: 15_000 });
});

// The customer page's events table at 1280 px: its last column, Properties, was cut at the
// card's edge ("{"endpoi"), the table needing 203 px of sideways scrolling to read it. At
// 1280 px every table of the customer and meter pages (limit history included) should show
// its whole rows, each cell ending inside its card.
test('Customer events and meter limit history at 1280 px: every cell ends inside its card', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL, 1280);
  const outside: string[] = [];
  for (const where of [`${DASHBOARD}/customers/acme-corp`, `${DASHBOARD}/meters/${s.meters.api_calls}`]) {
    await page.goto(where);
    await page.locator('table:visible').first().waitFor();
    await page.screenshot({ path: `${OUT}/finding-cells-${outside.length}-${where.split('/').pop()}.png`, fullPage: true });
    outside.push(
      ...(await page.evaluate(() => {
        const found: string[] = [];
        for (const cell of Array.from(document.querySelectorAll('td, th'))) {
          const card = cell.closest('.tremor-Card-root');
          if (!card || cell.getClientRects().length === 0) continue; // hidden (a chart's table view not shown)
          // What the reader sees of the cell: clipped by any scroll box between it and its card.
          let right = cell.getBoundingClientRect().right;
          for (let el = cell.parentElement; el && el !== card; el = el.parentElement) {
            if (getComputedStyle(el).overflowX !== 'visible') right = Math.min(right, el.getBoundingClientRect().right);
          }
          const edge = card.getBoundingClientRect().right;
          if (right > edge + 0.5) found.push(`${location.pathname}: "${(cell.textContent ?? '').slice(0, 40)}" ends ${Math.round(right - edge)} px past its card`);
        }
        // And none hidden in a scroll box: at 1280 px the whole row is on screen.
        for (const table of Array.from(document.querySelectorAll('table'))) {
          if (table.getClientRects().length === 0) continue;
          const box = table.parentElement!;
          if (box.scrollWidth > box.clientWidth + 1) {
            const columns = Array.from(table.querySelectorAll('th')).map((th) => `${th.textContent} ${Math.round(th.getBoundingClientRect().width)} px`);
            found.push(`${location.pathname}: table "${table.getAttribute('aria-label') ?? ''}" needs ${box.scrollWidth - box.clientWidth} px of sideways scrolling (columns: ${columns.join(', ')})`);
          }
        }
        return found;
      })),
    );
  }
  expect(outside).toEqual([]);
  await context.close();
});
