import type { Page } from '@playwright/test';
import { creatorWithKey, DASHBOARD, expect, newCreator, rest, screenshots, signUpInBrowser, test } from './fixtures';

/**
 * The Meters pages, end to end: empty state → a meter with two plan limits (one hard
 * cap), an inline validation error that keeps the input → the list → a changed limit in
 * the history → a preview on events sent over the HTTP API → archive; and creator B gets
 * the 404 page at creator A's meter.
 */


const field = (page: Page, name: string) => page.locator(`[id="field-${name}"]`);
const fieldError = (page: Page, name: string) => page.locator(`[id="field-${name}-error"]`);

test('a creator creates, edits, previews and archives a meter', async ({ page, creator, baseURL, browser }) => {
  test.setTimeout(150_000);
  if (!baseURL) throw new Error('baseURL is not configured');
  await page.setViewportSize({ width: 1280, height: 900 });
  const apiKey = await creatorWithKey(page, creator);

  // Given no meters: the page explains what a meter is and offers to create one
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Meters' }).click();
  await expect(page).toHaveURL(`${DASHBOARD}/meters`);
  await expect(page.getByTestId('meters-empty')).toContainText('A meter turns the events your app sends into a number');
  await screenshots(page, 'meters-empty');
  await page.getByTestId('meters-empty').getByRole('link', { name: 'Create meter' }).click();
  await expect(page).toHaveURL(`${DASHBOARD}/meters/new`);

  // When the creator fills in a meter with two plans, one hard-capped, and a limit that is not a number
  await field(page, 'display_name').fill('API calls');
  await field(page, 'event_name').fill('api_calls');
  await field(page, 'unit_name').fill('calls');
  await expect(page.locator('[id="field-unique_property"]')).toHaveCount(0);
  await field(page, 'plan_limits[0].plan_name').fill('free');
  await field(page, 'plan_limits[0].limit_value').fill('3');
  await page.locator('[id="field-plan_limits[0].hard_cap"]').check();
  await page.getByRole('button', { name: 'Add a plan' }).click();
  await field(page, 'plan_limits[1].plan_name').fill('pro');
  await field(page, 'plan_limits[1].limit_value').fill('lots');
  await field(page, 'plan_limits[1].soft_limit_threshold').fill('0.8');
  await field(page, 'plan_limits[1].overage_price').fill('0.5');
  await page.getByRole('button', { name: 'Create meter' }).click();

  // Then the error is shown next to the limit, and everything typed is still there
  await expect(fieldError(page, 'plan_limits[1].limit_value')).toHaveText('Limit must be a decimal like "12.5" (at most 9 decimal places, below 10^18)');
  await expect(field(page, 'plan_limits[1].limit_value')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByRole('alert')).toHaveText('Please correct the highlighted fields.');
  await expect(page).toHaveURL(`${DASHBOARD}/meters/new`);
  await expect(field(page, 'display_name')).toHaveValue('API calls');
  await expect(field(page, 'event_name')).toHaveValue('api_calls');
  await expect(field(page, 'plan_limits[1].plan_name')).toHaveValue('pro');
  await expect(field(page, 'plan_limits[1].overage_price')).toHaveValue('0.5');
  await expect(page.locator('[id="field-plan_limits[0].hard_cap"]')).toBeChecked();

  // The unique property appears only for unique meters
  await page.getByLabel('Aggregation').selectOption('unique');
  await expect(field(page, 'unique_property')).toBeVisible();
  await page.getByLabel('Aggregation').selectOption('count');
  await expect(page.locator('[id="field-unique_property"]')).toHaveCount(0);

  // A preview of a new event name says honestly that there is nothing yet
  await field(page, 'plan_limits[1].limit_value').fill('5');
  await page.getByRole('button', { name: 'Preview on the last 30 days' }).click();
  await expect(page.getByTestId('meter-preview-empty')).toContainText('No events yet');
  await expect(field(page, 'plan_limits[1].plan_name')).toHaveValue('pro');
  await screenshots(page, 'meters-create');

  // When the creator saves, the list shows the meter with both limits
  await page.getByRole('button', { name: 'Create meter' }).click();
  await expect(page).toHaveURL(new RegExp(`${DASHBOARD}/meters\\?created=`));
  await expect(page.getByTestId('meter-created')).toContainText('Meter “API calls” created');
  const row = page.getByTestId('meter-row').filter({ hasText: 'api_calls' });
  await expect(row).toContainText('free → 3');
  await expect(row).toContainText('hard cap');
  await expect(row).toContainText('pro → 5 calls · soft 80 % · then $0.50 each');
  await expect(row).toContainText('No usage yet');
  const meterUrl = (await row.getByRole('link', { name: 'API calls', exact: true }).getAttribute('href')) ?? '';
  expect(meterUrl).toMatch(new RegExp(`^${DASHBOARD}/meters/[0-9a-f-]{36}$`));

  // And the same event name again is refused by the server, shown next to the field
  await page.goto(`${DASHBOARD}/meters/new`);
  await field(page, 'display_name').fill('Again');
  await field(page, 'event_name').fill('api_calls');
  await field(page, 'unit_name').fill('calls');
  await field(page, 'plan_limits[0].plan_name').fill('free');
  await page.getByRole('button', { name: 'Create meter' }).click();
  await expect(fieldError(page, 'event_name')).toHaveText('A meter for event_name "api_calls" already exists.');
  await expect(field(page, 'display_name')).toHaveValue('Again');
  await expect(field(page, 'plan_limits[0].plan_name')).toHaveValue('free');

  // Given customers on each plan sending usage over the API
  expect(
    (
      await rest(baseURL, apiKey, 'PUT', '/api/usage/customers/free-user', {
        plan_name: 'free',
      })
    ).status
  ).toBe(201);
  expect(
    (
      await rest(baseURL, apiKey, 'PUT', '/api/usage/customers/pro-user', {
        plan_name: 'pro',
      })
    ).status
  ).toBe(201);
  const events = [
    ...Array.from({ length: 7 }, () => ({
      event_name: 'api_calls',
      user_id: 'pro-user',
    })),
    ...Array.from({ length: 3 }, () => ({
      event_name: 'api_calls',
      user_id: 'free-user',
    })),
  ];
  const tracked = await rest(baseURL, apiKey, 'POST', '/api/usage/track', events);
  expect(tracked.status).toBe(200);

  // Then the list shows this period's usage (the period figures are refreshed every few seconds)
  await expect(async () => {
    await page.goto(`${DASHBOARD}/meters`);
    await expect(row).toContainText('10 calls', { timeout: 1_000 });
  }).toPass({ timeout: 20_000, intervals: [500, 1_000] });
  await expect(row).toContainText('2 customers metered');
  await screenshots(page, 'meters-list');

  // When the creator raises pro's limit to 6, the history keeps the old limit
  await row.getByRole('link', { name: 'Edit' }).click();
  await expect(page).toHaveURL(meterUrl);
  await expect(page.getByTestId('meter-event-name')).toHaveText('api_calls');
  await expect(page.getByTestId('limit-history-row')).toHaveCount(2);
  await field(page, 'plan_limits[1].limit_value').fill('6');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByTestId('meter-saved')).toBeVisible();
  const proHistory = page.getByTestId('limit-history-row').and(page.locator('[data-plan="pro"]'));
  await expect(proHistory).toHaveCount(2);
  await expect(proHistory.first()).toContainText('6');
  await expect(proHistory.first()).toContainText('Current');
  await expect(proHistory.nth(1)).toContainText('5');
  await expect(field(page, 'plan_limits[1].limit_value')).toHaveValue('6');
  await screenshots(page, 'meters-edit');

  // And a preview with a lower hard cap for free shows who would have been capped
  await field(page, 'plan_limits[0].limit_value').fill('2');
  await page.getByRole('button', { name: 'Preview on the last 30 days' }).click();
  const preview = page.getByTestId('meter-preview');
  await expect(preview).toBeVisible();
  await expect(preview.locator('[data-plan="free"]')).toContainText('1 would have been capped');
  await expect(preview.locator('[data-plan="pro"]')).toContainText('7');
  await expect(preview.locator('[data-plan="pro"]')).toContainText('0.5'); // 1 call over 6 at 0.5
  await expect(field(page, 'plan_limits[0].limit_value')).toHaveValue('2');
  await preview.scrollIntoViewIfNeeded();
  await screenshots(page, 'meters-preview');
  // Nothing was saved by the preview
  await expect(page.getByTestId('limit-history-row').and(page.locator('[data-plan="free"]'))).toHaveCount(1);

  // When the creator archives the meter, it is read-only and says so
  await page.locator('summary').filter({ hasText: 'Archive meter' }).click();
  await page.getByRole('button', { name: 'Archive API calls' }).click();
  await expect(page.getByTestId('meter-archived-note')).toContainText('read-only');
  await expect(field(page, 'display_name')).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Save changes' })).toHaveCount(0);

  // And the list hides it until archived meters are shown
  await page.goto(`${DASHBOARD}/meters`);
  await expect(page.getByTestId('meter-row')).toHaveCount(0);
  await page.getByTestId('archived-toggle').click();
  await expect(page.getByTestId('meter-row').filter({ hasText: 'archived' })).toHaveCount(1);

  // Creator B gets the 404 page at creator A's meter, as at a malformed one
  const other = await browser.newContext();
  const pageB = await other.newPage();
  await signUpInBrowser(pageB, newCreator('meters-b'));
  await expect(pageB).toHaveURL(DASHBOARD);
  const response = await pageB.goto(meterUrl);
  expect(response?.status()).toBe(404);
  await expect(pageB.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  expect((await pageB.goto(`${DASHBOARD}/meters/not-a-meter`))?.status()).toBe(404);
  await other.close();
});
