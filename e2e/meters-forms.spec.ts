import type { Page } from '@playwright/test';
import { creatorWithKey, DASHBOARD, expect, rest, test } from './fixtures';

/**
 * The Meters pages as a creator configuring billing uses them: the list shows no terms an
 * unlimited plan cannot apply, the new meter form keeps what was typed across aggregation
 * changes, and the server's field errors take the focus as the browser's do.
 */

const field = (page: Page, name: string) => page.locator(`[id="field-${name}"]`);
const fieldError = (page: Page, name: string) => page.locator(`[id="field-${name}-error"]`);

/** What has keyboard focus, described (tag, id, text). */
async function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'BODY';
    return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} "${(el.textContent ?? '').trim().slice(0, 60)}"`;
  });
}

// DESIGN: "unlimited plans (limit_value null) never alert or block" and have no overage: a plan
// with an empty limit given a hard cap, a soft limit or an overage price is listed without them.
test('Meters list: an unlimited plan is not shown with a soft limit, an overage price or a hard cap it can never apply', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(`${DASHBOARD}/meters/new`);
  await field(page, 'display_name').fill('Active users');
  await field(page, 'event_name').fill('active_users');
  await page.getByLabel('Aggregation').selectOption('unique');
  await field(page, 'unit_name').fill('users');
  await field(page, 'plan_limits[0].plan_name').fill('pro');
  await field(page, 'plan_limits[0].soft_limit_threshold').fill('0.8');
  await field(page, 'plan_limits[0].overage_price').fill('0.5');
  await page.getByRole('button', { name: 'Add a plan' }).click();
  await field(page, 'plan_limits[1].plan_name').fill('free');
  await page.locator('[id="field-plan_limits[1].hard_cap"]').check();
  await page.getByRole('button', { name: 'Create meter' }).click();

  // Either the form explains beside the rows that these need a limit (what was typed kept)…
  const rowErrors = page.locator('[id^="field-plan_limits["][id$="-error"]');
  await expect(page.getByTestId('meter-created').or(rowErrors.first())).toBeVisible();
  if (!page.url().includes('created=')) {
    await expect(rowErrors.first()).toBeVisible();
    await expect(field(page, 'plan_limits[0].overage_price')).toHaveValue('0.5');
    return;
  }
  // …or the list does not promise terms an unlimited plan never applies.
  const row = page.getByTestId('meter-row').filter({ hasText: 'active_users' });
  await expect(row).toContainText('pro → unlimited');
  await expect(row).not.toContainText('then $0.50 each');
  await expect(row).not.toContainText('soft 80 %');
  await expect(row.getByText('hard cap')).toHaveCount(0);
});

// A creator types the unit "calls", tries Duration in the Aggregation select, and goes back to
// Count: the Unit field is now empty (the text field is rebuilt from the page's initial value).
// Same for the unique property after leaving Unique and coming back. What was typed should stay.
test('New meter: switching the aggregation away and back keeps the unit and unique property typed', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(`${DASHBOARD}/meters/new`);
  await field(page, 'unit_name').fill('calls');
  await page.getByLabel('Aggregation').selectOption('duration');
  await page.getByLabel('Aggregation').selectOption('count');
  await expect(field(page, 'unit_name')).toHaveValue('calls');

  await page.getByLabel('Aggregation').selectOption('unique');
  await field(page, 'unique_property').fill('member_id');
  await page.getByLabel('Aggregation').selectOption('sum');
  await page.getByLabel('Aggregation').selectOption('unique');
  await expect(field(page, 'unique_property')).toHaveValue('member_id');
});

// Errors the browser finds take the keyboard focus to the first invalid field. An error only the
// server finds (an event name already used by a meter) is shown beside Event name, but focus
// stays where Enter was pressed (Unit): a keyboard or screen-reader user has to hunt for the field.
test('New meter: an event name the server refuses takes the focus to that field, as browser-side errors do', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  const first = await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls' });
  expect(first.status, first.text).toBe(201);
  await page.goto(`${DASHBOARD}/meters/new`);
  await field(page, 'display_name').fill('Again');
  await field(page, 'event_name').fill('api_calls');
  await field(page, 'unit_name').fill('calls');
  await field(page, 'unit_name').press('Enter');
  await expect(fieldError(page, 'event_name')).toHaveText('A meter for event_name "api_calls" already exists.');
  await expect(field(page, 'event_name')).toHaveAttribute('aria-invalid', 'true');
  await expect.poll(() => focused(page)).toBe('input#field-event_name ""');
});

// A duration meter's limits are numbers in its unit: picking another unit (allowed while it has no
// usage) says what that does to them before anything is saved.
test('Meter page: choosing another unit for a duration meter with limits says what becomes of them', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  const meter = await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'render',
    display_name: 'Render time',
    aggregation_type: 'duration',
    unit_name: 'minutes',
    plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: 0.5 }],
  });
  expect(meter.status, meter.text).toBe(201);
  await page.goto(`${DASHBOARD}/meters/${meter.body.id as string}`);
  const hint = page.locator('[id="field-unit_name-hint"]');
  await expect(hint).toHaveText('Events send seconds; totals and limits are in this unit.');
  await field(page, 'unit_name').selectOption('hours');
  await expect(hint).toHaveText('Limits are numbers in this unit: a limit of 10 minutes becomes 10 hours. Change the limits below too if they should stay the same time.');
  await field(page, 'unit_name').selectOption('minutes');
  await expect(hint).toHaveText('Events send seconds; totals and limits are in this unit.');
});

// A hard cap with an overage price bills nothing past the limit, and the form accepted it
// without a word; saving a plan without the soft threshold it had cleared it silently too.
test('Meter page: saving limits that do nothing or drop what the plan had lists them under the saved notice', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  const meter = await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'exports',
    display_name: 'Exports',
    aggregation_type: 'count',
    unit_name: 'exports',
    plan_limits: [{ plan_name: 'team', limit_value: 100, soft_limit_threshold: '0.8' }],
  });
  expect(meter.status, meter.text).toBe(201);
  await page.goto(`${DASHBOARD}/meters/${meter.body.id as string}`);
  await page.locator('[id="field-plan_limits[0].hard_cap"]').check();
  await field(page, 'plan_limits[0].overage_price').fill('0.25');
  await field(page, 'plan_limits[0].soft_limit_threshold').fill('');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByTestId('meter-saved')).toBeVisible();
  const warnings = page.getByTestId('meter-warnings').getByRole('listitem');
  await expect(warnings).toHaveCount(2);
  await expect(warnings.nth(0)).toHaveText(/^Plan “team”: Overage price is never charged: a hard-capped plan refuses events past its limit/);
  await expect(warnings.nth(1)).toHaveText(/^Plan “team”: Soft limit threshold was 0\.8 and is now cleared/);
  // Saved as asked all the same.
  const saved = await rest(baseURL!, apiKey, 'GET', `/api/usage/meters/${meter.body.id as string}`);
  expect(saved.body.plan_limits).toEqual([expect.objectContaining({ plan_name: 'team', hard_cap: true, overage_price: '0.25', soft_limit_threshold: null })]);
});
