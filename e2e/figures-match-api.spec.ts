import type { Browser, BrowserContext, Page } from '@playwright/test';
import { createAdminKeyInBrowser, DASHBOARD, expect, newCreator, rest, signUpInBrowser, test } from './fixtures';

/**
 * What the dashboard shows against what the HTTP API answers, for one creator with
 * meters of several aggregations and units, limits (one of 0), overage prices, a soft
 * threshold, hard caps, and customers below, at and past their limits.
 */

type Seeded = { apiKey: string; state: string; meters: Record<string, string> };
let seeded: Seeded | null = null;

const ok = (r: { status: number; text: string }) => expect(r.status, r.text).toBeLessThan(300);

type UsageRow = { meter_id: string; event_name: string; used: string; limit: string | null; remaining: string | null; overage_quantity: string; overage_amount: string };

/**
 * storage (sum, GB): starter 100 GB, soft 0.12345, $0.125/GB over; free 2 GB hard cap.
 * bandwidth (sum, GB): starter 10.125 GB, $0.2/GB over.
 * exports (count): starter 0 included, $0.50 each (pay as you go); free 0, hard cap (no exports on free).
 * big (starter): 100.4 GB storage (0.4 over). half (starter): 11.97 GB bandwidth (1.845 over).
 * payg (starter): 4 exports (4 over, $2.00). nofeat (free): 0 exports, its one export refused (402).
 */
async function seed(browser: Browser, baseURL: string): Promise<Seeded> {
  if (seeded) return seeded;
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await signUpInBrowser(page, newCreator('figures-match-api'));
  await expect(page).toHaveURL(DASHBOARD);
  const apiKey = await createAdminKeyInBrowser(page);
  const meters: Record<string, string> = {};
  for (const def of [
    { event_name: 'storage', display_name: 'Storage', aggregation_type: 'sum', unit_name: 'GB', plan_limits: [
      { plan_name: 'starter', limit_value: '100', overage_price: '0.125', soft_limit_threshold: '0.12345' },
      { plan_name: 'free', limit_value: '2', hard_cap: true }] },
    { event_name: 'bandwidth', display_name: 'Bandwidth', aggregation_type: 'sum', unit_name: 'GB', plan_limits: [
      { plan_name: 'starter', limit_value: '10.125', overage_price: '0.2' }] },
    { event_name: 'exports', display_name: 'Exports', aggregation_type: 'count', unit_name: 'exports', plan_limits: [
      { plan_name: 'starter', limit_value: '0', overage_price: '0.5' },
      { plan_name: 'free', limit_value: '0', hard_cap: true }] },
  ]) {
    const created = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', def);
    ok(created);
    meters[def.event_name] = created.body.id as string;
  }
  for (const [user, plan] of [['big', 'starter'], ['half', 'starter'], ['payg', 'starter'], ['nofeat', 'free']]) {
    ok(await rest(baseURL, apiKey, 'PUT', `/api/usage/customers/${user}`, { plan_name: plan }));
  }
  const tracked = await rest(baseURL, apiKey, 'POST', '/api/usage/track', [
    { event_name: 'storage', user_id: 'big', value: '100.4' },
    { event_name: 'bandwidth', user_id: 'half', value: '11.97' },
    ...Array.from({ length: 4 }, () => ({ event_name: 'exports', user_id: 'payg' })),
    { event_name: 'exports', user_id: 'nofeat' },
  ]);
  ok(tracked);
  expect((tracked.body.results as Array<{ status: number }>).map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201, 402]);
  const state = test.info().outputPath('figures-match-api-state.json');
  await context.storageState({ path: state });
  await context.close();
  seeded = { apiKey, state, meters };
  return seeded;
}

async function openAs(browser: Browser, baseURL: string | undefined): Promise<{ context: BrowserContext; page: Page; s: Seeded }> {
  const s = await seed(browser, baseURL!);
  const context = await browser.newContext({ baseURL, storageState: s.state, viewport: { width: 1280, height: 900 } });
  return { context, page: await context.newPage(), s };
}

async function usageOf(baseURL: string, apiKey: string, userId: string, eventName: string): Promise<UsageRow> {
  const answer = await rest(baseURL, apiKey, 'GET', `/api/usage/customers/${encodeURIComponent(userId)}/usage`);
  ok(answer);
  const row = (answer.body.meters as UsageRow[]).find((m) => m.event_name === eventName);
  if (!row) throw new Error(`no ${eventName} in ${answer.text}`);
  return row;
}

// A plan that includes 0 of a meter (pay as you go from the first unit, or a feature a plan
// does not have, hard-capped at 0). The API answers limit "0" (check: hard_cap true, allowed
// false); the customer page's bar and Top users' "% of limit" said "No limit" — which
// the same page uses for unlimited plans — beside "4 / 0 exports".
test('Customer page and Top users: a limit of 0 is a limit, not "No limit"', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL);
  const payg = await usageOf(baseURL!, s.apiKey, 'payg', 'exports');
  expect(payg).toMatchObject({ used: '4', limit: '0', remaining: '-4', overage_quantity: '4', overage_amount: '2' });
  const check = await rest(baseURL!, s.apiKey, 'GET', '/api/usage/check?user_id=nofeat&event_name=exports');
  expect(check.body).toMatchObject({ allowed: false, limit: '0', hard_cap: true });

  await page.goto(`${DASHBOARD}/customers/payg`);
  const card = page.locator('[data-testid="meter-usage"][data-event-name="exports"]');
  await expect(card.getByTestId('meter-used')).toContainText('4 / 0 exports');
  await expect(card.getByTestId('meter-overage')).toHaveText('4 exports over: $2.00 at $0.50 each.');
  await expect.soft(card, 'payg: 4 exports past a limit of 0').not.toContainText('No limit');
  await expect(card.getByRole('meter')).toHaveAttribute('aria-valuetext', 'Beyond a limit of 0');
  await expect(card).toContainText('Beyond a limit of 0');

  await page.goto(`${DASHBOARD}/customers/nofeat`);
  const capped = page.locator('[data-testid="meter-usage"][data-event-name="exports"]');
  await expect(capped).toContainText('Hard cap');
  await expect.soft(capped, 'nofeat: hard-capped at 0, its exports refused').not.toContainText('No limit');
  await expect(capped).toContainText('At a limit of 0');

  await page.goto(`${DASHBOARD}/customers?meter=${s.meters.exports}`);
  const row = page.locator('[data-testid="top-row"][data-user-id="payg"]');
  await expect(row.getByTestId('top-overage')).toContainText('$2.00');
  await expect(row).not.toContainText('No limit');
  await expect(row).toContainText('Beyond a limit of 0');
  await context.close();
});

// Overview → "Customers near or over a limit": big has 100.4 GB of a 100 GB limit (API: used
// "100.4", overage 0.4 GB, $0.05). The row read "100.4 %" and "In overage", but its
// figures said "100 of 100 GB" — at the limit, not past it (formatQuantity drops decimals from 100 up).
test('Overview: the attention row writes the usage the API answers (100.4 of 100 GB, not 100 of 100)', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL);
  const big = await usageOf(baseURL!, s.apiKey, 'big', 'storage');
  expect(big).toMatchObject({ used: '100.4', limit: '100', remaining: '-0.4', overage_quantity: '0.4' });
  await page.goto(DASHBOARD);
  const row = page.locator('[data-testid="attention"] li').filter({ hasText: 'storage' }).filter({ hasText: 'big' });
  await expect(row).toContainText('100.4 %');
  await expect(row).toContainText('In overage');
  await expect(row).toContainText(`${big.used} of ${big.limit} GB`);
  await context.close();
});

// Revenue page, bandwidth (limit 10.125 GB, $0.20 per GB over): half used 11.97 GB, so the API
// answers overage_quantity "1.845", overage_amount "0.369"; Top users writes "1.845 GB". The
// Revenue page wrote the plan's terms as "10.12 GB" and the overage as "1.84 GB over" beside
// the exact "$0.369" (1.84 × $0.20 would be $0.368): quantities were rounded to 2 decimals.
test('Revenue: plan terms and overage quantities are the API’s (10.125 GB, 1.845 GB over), not rounded to 2 decimals', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL);
  const half = await usageOf(baseURL!, s.apiKey, 'half', 'bandwidth');
  expect(half).toMatchObject({ used: '11.97', limit: '10.125', overage_quantity: '1.845', overage_amount: '0.369' });

  await page.goto(`${DASHBOARD}/customers?meter=${s.meters.bandwidth}`);
  await expect(page.locator('[data-testid="top-row"][data-user-id="half"]').getByTestId('top-overage')).toContainText('1.845 GB');

  await page.goto(`${DASHBOARD}/revenue`);
  const meterRow = page.locator('[data-testid="revenue-meter-row"][data-event-name="bandwidth"]');
  await expect(meterRow.getByTestId('revenue-meter-amount')).toHaveText('$0.369');
  await expect.soft(meterRow).toContainText('1.845 GB over');
  const planRow = page.getByTestId('revenue-plan-row').filter({ hasText: 'bandwidth' });
  await expect(planRow).toContainText('10.125 GB');
  await context.close();
});

// storage's starter plan has soft_limit_threshold "0.12345" (API). The customer page says
// "Soft limit at 12.345 %" and the meter's Limit history "12.345 %"; the Meters list said
// "soft 12.35 %" (Math.round(Number(t) × 10000) / 100: through a float, rounded to 2 decimals).
test('Meters list: the soft limit reads as the API has it (12.345 %), as on the customer page', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL);
  const meter = await rest(baseURL!, s.apiKey, 'GET', `/api/usage/meters/${s.meters.storage}`);
  expect((meter.body.plan_limits as Array<{ plan_name: string; soft_limit_threshold: string | null }>).find((l) => l.plan_name === 'starter')?.soft_limit_threshold).toBe('0.12345');
  await page.goto(`${DASHBOARD}/customers/big`);
  await expect(page.locator('[data-testid="meter-usage"][data-event-name="storage"]')).toContainText('Soft limit at 12.345 %.');
  await page.goto(`${DASHBOARD}/meters`);
  await expect(page.locator('[data-testid="meter-row"][data-event-name="storage"]')).toContainText('starter → 100 GB · soft 12.345 %');
  await context.close();
});
