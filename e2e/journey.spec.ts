import type { Page } from '@playwright/test';
import { DASHBOARD, expect, newCreator, rest, SCREENSHOTS, screenshots, signUpInBrowser, test } from './fixtures';

/**
 * A creator's first day, end to end in Chromium: sign up → a meter with plan limits (in
 * the Meters form) → an API key → events sent with fetch → the overview updates live
 * without a reload → Top users shows the customer → an alert is acknowledged → the
 * what-if shows a revenue delta. Then another creator gets the 404 page at every one of
 * the first creator's URLs. Every page is saved to e2e/screenshots/ (1280 px and 390 px).
 */


const field = (page: Page, name: string) => page.locator(`[id="field-${name}"]`);
const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name, exact: true }).click();

/** Sends events from the dashboard's own page, as a creator's web app would. */
async function trackFromBrowser(page: Page, apiKey: string, events: unknown[]): Promise<number[]> {
  return page.evaluate(
    async ({ apiKey, events }) => {
      const response = await fetch('/api/usage/track', { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(events) });
      const body = (await response.json()) as { results: Array<{ status: number }> };
      return body.results.map((r) => r.status);
    },
    { apiKey, events },
  );
}

test('a creator’s first day, from sign-up to a what-if, and 404s for another creator', async ({ page, creator, baseURL, browser }) => {
  test.setTimeout(240_000);
  if (!baseURL) throw new Error('baseURL is not configured');
  await page.setViewportSize({ width: 1280, height: 900 });

  // Sign up
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);

  // A meter with two plans, in the Meters form: free is hard-capped at 5 (soft at 60 %), pro allows 3 then 0.50 a call
  await nav(page, 'Meters');
  await page.getByTestId('meters-empty').getByRole('link', { name: 'Create meter' }).click();
  await field(page, 'display_name').fill('API calls');
  await field(page, 'event_name').fill('api_calls');
  await field(page, 'unit_name').fill('calls');
  await field(page, 'plan_limits[0].plan_name').fill('free');
  await field(page, 'plan_limits[0].limit_value').fill('5');
  await field(page, 'plan_limits[0].soft_limit_threshold').fill('0.6');
  await page.locator('[id="field-plan_limits[0].hard_cap"]').check();
  await page.getByRole('button', { name: 'Add a plan' }).click();
  await field(page, 'plan_limits[1].plan_name').fill('pro');
  await field(page, 'plan_limits[1].limit_value').fill('3');
  await field(page, 'plan_limits[1].overage_price').fill('0.5');
  await page.getByRole('button', { name: 'Create meter' }).click();
  await expect(page.getByTestId('meter-created')).toContainText('Meter “API calls” created');

  // An API key
  await nav(page, 'API keys');
  await page.getByLabel('Name').fill('backend');
  await page.getByLabel('admin', { exact: true }).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const apiKey = ((await page.getByTestId('new-api-key').textContent()) ?? '').trim();
  expect(apiKey).toMatch(/^su_live_/);

  // The creator's backend sets up two customers and last month's usage (late events accepted for 35 days)
  expect((await rest(baseURL, apiKey, 'PUT', '/api/usage/settings', { late_event_grace_hours: 840 })).status).toBe(200);
  expect((await rest(baseURL, apiKey, 'PUT', '/api/usage/customers/ada', { plan_name: 'free', name: 'Ada Lovelace', email: 'ada@example.com' })).status).toBeLessThan(300);
  expect((await rest(baseURL, apiKey, 'PUT', '/api/usage/customers/bo', { plan_name: 'pro', name: 'Bo Diddley' })).status).toBeLessThan(300);
  const now = new Date();
  const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - 3_600_000).toISOString();
  const history = await rest(baseURL, apiKey, 'POST', '/api/usage/track', [
    ...Array.from({ length: 6 }, () => ({ event_name: 'api_calls', user_id: 'bo', timestamp: lastMonth })),
    ...Array.from({ length: 2 }, () => ({ event_name: 'api_calls', user_id: 'ada', timestamp: lastMonth })),
  ]);
  expect((history.body.results as Array<{ status: number }>).map((r) => r.status)).toEqual(Array(8).fill(201));
  const meterId = ((await rest(baseURL, apiKey, 'GET', '/api/usage/meters')).body.meters as Array<{ id: string }>)[0]!.id;

  // The overview is open, live; this period has no usage yet
  await nav(page, 'Overview');
  await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('kpi-events-value')).toHaveText('0');

  // Events arrive: ada makes 4 calls (past 60 % of 5), bo 5 (2 past his 3)
  const statuses = await trackFromBrowser(page, apiKey, [
    ...Array.from({ length: 4 }, (_, i) => ({ event_name: 'api_calls', user_id: 'ada', properties: { endpoint: i % 2 ? '/search' : '/items' } })),
    ...Array.from({ length: 5 }, () => ({ event_name: 'api_calls', user_id: 'bo', properties: { endpoint: '/items' } })),
  ]);
  expect(statuses).toEqual(Array(9).fill(201));

  // The overview updates without a reload
  const url = page.url();
  await expect(page.getByTestId('kpi-events-value')).toHaveText('9', { timeout: 20_000 });
  await expect(page.getByTestId('kpi-customers-value')).toHaveText('2', { timeout: 10_000 });
  await expect(page.getByTestId('kpi-overage-value')).toHaveText('$1.00');
  await expect(page.getByTestId('attention-bo')).toContainText('166.7 %');
  await expect(page.getByTestId('attention-ada')).toContainText('80 %');
  expect(page.url()).toBe(url);
  await screenshots(page, 'journey-overview');

  // Trends chart the meter
  await nav(page, 'Trends');
  // The default range is the last 30 days (to the end of today): last month's calls are in it while it is recent
  const rangeStart = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 86_400_000 - 30 * 86_400_000;
  await expect(page.getByTestId('trend-total')).toContainText(Date.parse(lastMonth) >= rangeStart ? '17' : '9');
  await expect(page.locator('[data-testid="trend-chart"] svg').first()).toBeVisible();
  await screenshots(page, 'journey-trends');

  // Top users shows both customers, bo first, with his overage
  await nav(page, 'Top users');
  const bo = page.locator('[data-testid="top-row"][data-user-id="bo"]');
  await expect(bo.getByTestId('top-used')).toContainText('5');
  await expect(bo.getByTestId('top-overage')).toContainText('$1.00');
  await expect(page.locator('[data-testid="top-row"][data-user-id="ada"]')).toBeVisible();
  await screenshots(page, 'journey-top-users');
  await page.getByRole('link', { name: 'bo', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('bo');
  await expect(page.locator('[data-testid="meter-usage"][data-event-name="api_calls"]').getByTestId('meter-used')).toContainText('5 / 3 calls');
  await screenshots(page, 'journey-customer');

  // ada's soft-limit alert, acknowledged from its page
  await nav(page, 'Alerts');
  const adaAlert = page.getByTestId('alert-row').filter({ hasText: 'ada' }).filter({ hasText: 'Soft limit reached' });
  await expect(adaAlert).toHaveCount(1, { timeout: 10_000 });
  await screenshots(page, 'journey-alerts');
  await adaAlert.getByRole('link', { name: /^Details/ }).click();
  await expect(page).toHaveURL(new RegExp(`${DASHBOARD}/alerts/[0-9a-f-]{36}$`));
  await page.getByRole('button', { name: 'Acknowledge', exact: true }).click();
  await expect(page.getByTestId('alert-status')).toHaveText('Acknowledged');
  const alertUrl = new URL(page.url()).pathname;
  await screenshots(page, 'journey-alert');

  // Revenue: $1.00 of overage so far; what if pro allowed only 1 call? Last month bo made 6: $1.50 → $2.50
  await nav(page, 'Revenue');
  await expect(page.getByTestId('revenue-so-far')).toContainText('$1.00');
  const whatIf = page.getByRole('form', { name: 'What-if simulation' });
  await whatIf.getByLabel('Meter').selectOption(meterId);
  await expect(page).toHaveURL(new RegExp(`meter=${meterId}`));
  await whatIf.getByLabel('Plan').selectOption('pro');
  await expect(page).toHaveURL(/plan=pro/);
  await whatIf.getByLabel('Limit', { exact: true }).fill('1');
  await whatIf.getByRole('button', { name: 'Simulate' }).click();
  await expect(page.getByTestId('what-if-before')).toContainText('$1.50');
  await expect(page.getByTestId('what-if-after')).toContainText('$2.50');
  await expect(page.getByTestId('what-if-delta')).toContainText('1.00');
  await screenshots(page, 'journey-revenue');

  // Every other page renders
  for (const [section, name] of [
    ['Meters', 'meters'],
    ['Reports', 'reports'],
    ['Billing', 'billing'],
    ['API keys', 'keys'],
    ['Settings', 'settings'],
  ] as const) {
    await nav(page, section);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await screenshots(page, `journey-${name}`);
  }
  await page.goto(`${DASHBOARD}/meters/${meterId}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('API calls');
  await screenshots(page, 'journey-meter-edit');

  // Another creator, logged in, gets the 404 page at each of these URLs and sees nothing of them
  const other = await browser.newContext({ baseURL });
  const otherPage = await other.newPage();
  await signUpInBrowser(otherPage, newCreator('journey-b'));
  await expect(otherPage).toHaveURL(DASHBOARD);
  for (const path of [`${DASHBOARD}/customers/bo`, `${DASHBOARD}/customers/ada`, `${DASHBOARD}/meters/${meterId}`, alertUrl, `${DASHBOARD}/trends?meter=${meterId}`]) {
    const response = await otherPage.goto(path);
    if (path.includes('/trends')) {
      // Trends of a meter that is not theirs fall back to their own (none): nothing of A's shows.
      expect(response?.status()).toBe(200);
      await expect(otherPage.getByTestId('trends-empty')).toBeVisible();
    } else {
      expect(response?.status(), path).toBe(404);
      await expect(otherPage.getByRole('heading', { name: 'Page not found' })).toBeVisible();
    }
    await expect(otherPage.getByText('Ada Lovelace')).toHaveCount(0);
    await expect(otherPage.getByText('api_calls')).toHaveCount(0);
  }
  await otherPage.screenshot({ path: `${SCREENSHOTS}/journey-not-found.png`, fullPage: true });
  await other.close();
});
