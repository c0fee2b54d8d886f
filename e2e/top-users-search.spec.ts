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

// Top users at 1280 × 800 with large figures (bytes), a long plan name and customers billed
// from mid-month: the table ran ~270 px past its card, the Period column (and part of Plan)
// cut off at the card's edge, reachable only by a sideways scrollbar at the bottom of the
// list. The creator should see every column, the last one included, without scrolling.
test('Top users at 1280 px: every column is on screen, the last one included', async ({ page, creator, baseURL }) => {
  if (!baseURL) throw new Error('baseURL is not configured');
  await page.setViewportSize({ width: 1280, height: 800 });
  const apiKey = await creatorWithKey(page, creator);
  const meter = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'storage_bytes',
    display_name: 'Storage used (peak)',
    aggregation_type: 'max',
    unit_name: 'bytes',
    plan_limits: [{ plan_name: 'enterprise-annual-2024', limit_value: '5000000000', overage_price: '0.00000002' }],
  });
  expect(meter.status, meter.text).toBe(201);
  // Billed from 12 days ago: the period reads across two months ("17 Nov – 17 Dec 2026").
  const anchor = new Date(Date.now() - 12 * 86_400_000).toISOString();
  const customers = [
    ['initech-international-research-division', 'Initech International Research Division', 'procurement@initech-international.example', '2199023255552'],
    ['acme-corporation-holdings', 'Acme Corporation International Holdings Ltd.', 'billing@acme-corporation-international.example', '21474836480'],
  ] as const;
  for (const [userId, name, email] of customers) {
    const upserted = await rest(baseURL, apiKey, 'PUT', `/api/usage/customers/${userId}`, { plan_name: 'enterprise-annual-2024', billing_anchor: anchor, name, email });
    expect(upserted.status, upserted.text).toBe(201);
  }
  const tracked = await rest(baseURL, apiKey, 'POST', '/api/usage/track', customers.map(([userId, , , value]) => ({ event_name: 'storage_bytes', user_id: userId, value })));
  expect(tracked.status, tracked.text).toBe(200);

  await page.goto(`${DASHBOARD}/customers?meter=${meter.body.id as string}`);
  const table = page.getByRole('table', { name: 'Top users on Storage used (peak)' });
  await expect(table.getByTestId('top-row')).toHaveCount(2);
  const last = table.getByRole('columnheader').last();
  const scrollBox = table.locator('xpath=..');

  // Without scrolling anything, the last column's header ends inside the table's box and the viewport
  const header = (await last.boundingBox())!;
  const box = (await scrollBox.boundingBox())!;
  expect(header.x + header.width, 'last column header inside the card').toBeLessThanOrEqual(box.x + box.width);
  expect(header.x + header.width, 'last column header inside the viewport').toBeLessThanOrEqual(1280);
  expect(await scrollBox.evaluate((el) => el.scrollWidth - el.clientWidth), 'table width hidden sideways').toBeLessThanOrEqual(0);
  await last.scrollIntoViewIfNeeded();
  await expect(last).toBeVisible();

  // And that column says each customer's plan and their own period
  const first = page.locator('[data-testid="top-row"][data-user-id="initech-international-research-division"]');
  await expect(first.getByTestId('top-plan-period')).toContainText('enterprise-annual-2024');
  await expect(first.getByTestId('top-plan-period')).toContainText(/\d{1,2} \w{3} \d{4}$/);

  // And the filters above read whole: each select's chosen option and the search's placeholder fit
  // their boxes (six fields on one row cut them to "Storage used (pe", "Current per", "User id, email or nam")
  const cut = await page.getByRole('form', { name: 'Choose meter, period and order' }).evaluate((form) => {
    const context = document.createElement('canvas').getContext('2d')!;
    const fits = (el: HTMLElement, text: string, padding: number) => {
      context.font = getComputedStyle(el).font;
      return context.measureText(text).width + padding <= el.clientWidth;
    };
    return [
      ...[...form.querySelectorAll('select')].filter((s) => !fits(s, s.selectedOptions[0]?.text ?? '', 40)).map((s) => s.name),
      ...[...form.querySelectorAll('input[type=search]')].filter((i) => !fits(i as HTMLElement, (i as HTMLInputElement).placeholder, 24)).map((i) => (i as HTMLInputElement).name),
    ];
  });
  expect(cut, 'fields whose text is cut').toEqual([]);
});
