import type { Page } from '@playwright/test';
import { creatorWithKey, DASHBOARD, expect, rest, test } from './fixtures';

/**
 * Top users' search ("starts with, any case") finds a customer typed exactly as written,
 * whatever letters its user id holds.
 */

const rowIds = (page: Page) => page.getByTestId('top-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-user-id')));

// Search is "starts with, any case": typing a customer's exact user id must find them.
test('Top users search finds a user id that starts with a dotted capital I', async ({ page, creator, baseURL }) => {
  if (!baseURL) throw new Error('baseURL is not configured');
  await page.setViewportSize({ width: 1280, height: 900 });
  const apiKey = await creatorWithKey(page, creator);
  const meter = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls' });
  expect(meter.status, meter.text).toBe(201);
  const tracked = await rest(baseURL, apiKey, 'POST', '/api/usage/track', [
    { event_name: 'api_calls', user_id: 'İstanbul-office' },
    { event_name: 'api_calls', user_id: 'istanbul-branch' },
    { event_name: 'api_calls', user_id: 'Ärger-gmbh' },
  ]);
  expect(tracked.status, tracked.text).toBe(200);

  // Other non-ASCII capitals are found whatever the case typed
  await page.goto(`${DASHBOARD}/customers?${new URLSearchParams({ q: 'ä' })}`);
  await expect.poll(() => rowIds(page)).toEqual(['Ärger-gmbh']);

  // When the creator types the customer's user id exactly as it is written
  await page.goto(`${DASHBOARD}/customers`);
  await page.getByLabel('Search').fill('İstanbul-office');
  await page.getByLabel('Search').press('Enter');
  await expect(page).toHaveURL(/q=/);

  // Then that customer is listed (not "No customer’s user id … starts with …")
  await expect(page.getByTestId('top-none-match')).toHaveCount(0);
  await expect.poll(() => rowIds(page)).toEqual(['İstanbul-office']);
});
