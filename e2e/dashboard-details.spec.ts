import type { Browser, BrowserContext, Page } from '@playwright/test';
import { createAdminKeyInBrowser, DASHBOARD, expect, newCreator, rest, signUpInBrowser, test } from './fixtures';

/**
 * Details of the dashboard's forms and pages other than the overview (meters, customers,
 * alerts): forms post to the customer they are about, figures are written as money and
 * percentages without float noise, errors stay with their plan row, user ids are exact.
 */

type Seeded = { apiKey: string; state: string; meterId: string };
let seeded: Seeded | null = null;

const ok = (r: { status: number; text: string }) => expect(r.status, r.text).toBeLessThan(300);

/**
 * One creator for the file: a meter "api_calls" (starter: 100 calls, soft limit 0.57,
 * $0.50 overage; pro: 1000 calls), alice 120 calls (20 over: $10.00), customers whose
 * user ids need care in a URL, and " padded " (spaces around it) past the soft limit.
 */
async function seed(browser: Browser, baseURL: string): Promise<Seeded> {
  if (seeded) return seeded;
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await signUpInBrowser(page, newCreator('dash-review'));
  await expect(page).toHaveURL(DASHBOARD);
  const apiKey = await createAdminKeyInBrowser(page);
  const meter = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    plan_limits: [
      { plan_name: 'starter', limit_value: '100', overage_price: '0.5', soft_limit_threshold: '0.57' },
      { plan_name: 'pro', limit_value: '1000', overage_price: '0.25' },
    ],
  });
  ok(meter);
  for (const id of ['alice', 'a', 'a#b', ' padded ']) {
    ok(await rest(baseURL, apiKey, 'PUT', `/api/usage/customers/${encodeURIComponent(id)}`, { plan_name: 'starter' }));
  }
  const events = [
    ...Array.from({ length: 120 }, () => ({ event_name: 'api_calls', user_id: 'alice' })),
    ...Array.from({ length: 60 }, () => ({ event_name: 'api_calls', user_id: ' padded ' })),
    { event_name: 'api_calls', user_id: 'a#b' },
    { event_name: 'api_calls', user_id: 'a' },
  ];
  const tracked = await rest(baseURL, apiKey, 'POST', '/api/usage/track', events);
  ok(tracked);
  const state = test.info().outputPath('review-state.json');
  await context.storageState({ path: state });
  await context.close();
  seeded = { apiKey, state, meterId: meter.body.id as string };
  return seeded;
}

async function openAs(browser: Browser, baseURL: string | undefined): Promise<{ context: BrowserContext; page: Page; s: Seeded }> {
  const s = await seed(browser, baseURL!);
  const context = await browser.newContext({ baseURL, storageState: s.state, viewport: { width: 1280, height: 900 } });
  return { context, page: await context.newPage(), s };
}

/** A customer's plan as the API has it (a PUT without fields changes nothing and answers the customer). */
async function planOf(baseURL: string, apiKey: string, userId: string): Promise<unknown> {
  const r = await rest(baseURL, apiKey, 'PUT', `/api/usage/customers/${encodeURIComponent(userId)}`, {});
  ok(r);
  return r.body.plan_name;
}

const field = (page: Page, name: string) => page.locator(`[id="field-${name}"]`);
const fieldError = (page: Page, name: string) => page.locator(`[id="field-${name}-error"]`);

// The creator opens the page of customer "a#b" (a legal user_id: the page itself loads fine),
// picks "pro" and clicks Save plan. They land on the "Page not found" page at …/customers/a,
// and the plan of ANOTHER customer, "a", is changed to pro while "a#b" stays on starter.
// The plan form has no action, so Remix resolves it from the route's decoded pathname
// ("…/customers/a#b"), where "#" (and "?") start the fragment (query).
test('Customer page: Save plan changes the customer on the page, also when its user_id holds "#"', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL);
  await page.goto(`${DASHBOARD}/customers/${encodeURIComponent('a#b')}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('a#b');
  await page.getByLabel('Plan', { exact: true }).selectOption('pro');
  const posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Save plan' }).click();
  const response = await posted;
  await page.waitForLoadState('networkidle');

  expect.soft(new URL(response.url()).pathname, 'where the plan form posted').toBe(`${DASHBOARD}/customers/a%23b`);
  await expect.soft(page.getByRole('heading', { level: 1 })).toHaveText('a#b');
  await expect.soft(page.getByTestId('plan-saved')).toHaveText('Plan changed to pro. Its limits apply from now on.');
  expect.soft(await planOf(baseURL!, s.apiKey, 'a#b'), 'the plan of "a#b", whose page it was').toBe('pro');
  expect(await planOf(baseURL!, s.apiKey, 'a'), 'the plan of "a", another customer').toBe('starter');
  await context.close();
});

// On alice's page the usage bar's soft-limit tick (plan soft limit 0.57) has the tooltip
// "Soft limit: 56.99999999999999 %", and screen readers hear "… soft limit at
// 56.99999999999999 %": `Number('0.57') * 100` in LimitBar. The text under the card says 57 %.
test('Customer page: the soft-limit mark of a 0.57 soft limit reads 57 %, without float noise', async ({ browser, baseURL }) => {
  const { context, page } = await openAs(browser, baseURL);
  await page.goto(`${DASHBOARD}/customers/alice`);
  const card = page.locator('[data-testid="meter-usage"][data-event-name="api_calls"]');
  await expect(card).toContainText('Soft limit at 57 %.');
  const bar = card.getByRole('meter');
  await expect.soft(bar).toHaveAttribute('aria-valuetext', '120 % of the limit, soft limit at 57 %');
  await expect(bar.locator('span[title^="Soft limit"]')).toHaveAttribute('title', 'Soft limit: 57 %');
  await context.close();
});

// The meter preview on the last 30 days: alice is 20 calls over starter's 100 at $0.50 each.
// The "Overage" headline reads "10" and the starter row's Overage cell "10": no currency, it
// reads like 10 calls; every other page writes money as "$10.00".
test('Meter preview: the overage is shown as money ($10.00), not a bare number', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL);
  await page.goto(`${DASHBOARD}/meters/${s.meterId}`);
  await page.getByRole('button', { name: 'Preview on the last 30 days' }).click();
  const preview = page.getByTestId('meter-preview');
  await expect(preview).toBeVisible();
  const starter = preview.locator('[data-testid="meter-preview-plan"][data-plan="starter"]');
  await expect(starter.getByRole('cell').nth(5)).toHaveText('20');
  await expect.soft(starter.getByRole('cell').last()).toHaveText('$10.00');
  await expect(preview.getByText('Overage', { exact: true }).locator('xpath=following-sibling::p')).toHaveText('$10.00');
  await context.close();
});

// The same limit, two pages: the Meters list says "starter → 100 calls · soft 57 % · then
// $0.50 each"; the meter's Limit history says soft limit "0.57" and overage price "0.5".
test('Meter page: the limit history writes the overage price as money and the soft limit as a percentage, as the list does', async ({ browser, baseURL }) => {
  const { context, page, s } = await openAs(browser, baseURL);
  await page.goto(`${DASHBOARD}/meters`);
  await expect(page.getByTestId('meter-row').filter({ hasText: 'api_calls' })).toContainText('starter → 100 calls · soft 57 % · then $0.50 each');
  await page.goto(`${DASHBOARD}/meters/${s.meterId}`);
  const row = page.locator('[data-testid="limit-history-row"][data-plan="starter"][data-current="true"]');
  // Plan · Limit · Soft limit · Hard cap · Overage price · From · Until
  await expect.soft(row.getByRole('cell').nth(4)).toHaveText('$0.50');
  await expect(row.getByRole('cell').nth(2)).toHaveText('57 %');
  await context.close();
});

// New meter: plan "free" has limit "lots" (refused beside it), plan "pro" limit 5. The
// creator removes the "free" row: its error stays behind and is now shown under pro's valid
// limit "5", marked invalid. Errors are keyed by row index, rows by a stable key.
test('Meter form: removing the plan row with an error takes the error away with it', async ({ browser, baseURL }) => {
  const { context, page } = await openAs(browser, baseURL);
  await page.goto(`${DASHBOARD}/meters/new`);
  await field(page, 'display_name').fill('Tokens');
  await field(page, 'event_name').fill('tokens_review');
  await field(page, 'unit_name').fill('tokens');
  await field(page, 'plan_limits[0].plan_name').fill('free');
  await field(page, 'plan_limits[0].limit_value').fill('lots');
  await page.getByRole('button', { name: 'Add a plan' }).click();
  await field(page, 'plan_limits[1].plan_name').fill('pro');
  await field(page, 'plan_limits[1].limit_value').fill('5');
  await page.getByRole('button', { name: 'Create meter' }).click();
  await expect(fieldError(page, 'plan_limits[0].limit_value')).toContainText('Limit must be a decimal');

  await page.getByTestId('plan-limit-row').first().getByRole('button', { name: /^Remove/ }).click();
  const rows = page.getByTestId('plan-limit-row');
  await expect(rows).toHaveCount(1);
  await expect(rows.getByLabel('Plan name')).toHaveValue('pro');
  await expect(rows.getByLabel('Limit', { exact: true })).toHaveValue('5');
  await expect.soft(rows.getByText('Limit must be a decimal')).toHaveCount(0);
  await expect(rows.getByLabel('Limit', { exact: true })).not.toHaveAttribute('aria-invalid', 'true');
  await context.close();
});

// " padded " (a legal user_id, spaces around it) crossed the soft limit. On Alerts, its row's
// customer link ("Only this customer's alerts", ?user_id=%20padded%20) shows "No alerts match
// these filters": the filter is trimmed to "padded", another customer.
test('Alerts: the customer link of a user_id with spaces around it lists that customer’s alerts', async ({ browser, baseURL }) => {
  const { context, page } = await openAs(browser, baseURL);
  await page.goto(`${DASHBOARD}/alerts`);
  const row = page.getByTestId('alert-row').filter({ hasText: 'padded' });
  await expect(row).toHaveCount(1);
  await row.getByRole('link', { name: 'padded', exact: true }).click();
  await expect(page).toHaveURL(/user_id=%20padded%20/);
  await expect(page.getByTestId('alerts-none-match')).toHaveCount(0);
  await expect(page.getByTestId('alert-row')).toHaveCount(1);
  await context.close();
});
