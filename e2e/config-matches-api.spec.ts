import type { Page } from '@playwright/test';
import { creatorWithKey, DASHBOARD, expect, rest, test } from './fixtures';

/**
 * Configuring meters, limits and plans through the dashboard, compared with what the HTTP API
 * then holds.
 */

const field = (page: Page, name: string) => page.locator(`[id="field-${name}"]`);
const ok = (r: { status: number; text: string }) => expect(r.status, r.text).toBeLessThan(300);
type Limit = { plan_name: string; limit_value: string | null; hard_cap: boolean };

// The creator opens a meter's page in one tab (free: 10 calls, hard cap). In a second tab (a
// teammate, or the creator a minute later) they raise free to 20 and add a "pro" plan of 1000
// calls: saved, the API has both. Back in the first tab they only rename the meter and click
// Save changes. The form posts every plan row it showed: saved, free went back to 10 and pro's
// limit ended ("Meter saved."). Now the save is refused as made on an outdated page, nothing
// changes, and after a reload the rename saves alone.
test('Meter page: a save from a page opened before the meter changed is refused, and nothing it showed is put back', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  const created = await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    plan_limits: [{ plan_name: 'free', limit_value: '10', hard_cap: true }],
  });
  ok(created);
  const meterUrl = `${DASHBOARD}/meters/${String(created.body.id)}`;
  await page.goto(meterUrl);
  await expect(field(page, 'plan_limits[0].limit_value')).toHaveValue('10');

  // Second tab: raise free to 20, add pro.
  const other = await page.context().newPage();
  await other.goto(meterUrl);
  await field(other, 'plan_limits[0].limit_value').fill('20');
  await other.getByRole('button', { name: 'Add a plan' }).click();
  await field(other, 'plan_limits[1].plan_name').fill('pro');
  await field(other, 'plan_limits[1].limit_value').fill('1000');
  await other.getByRole('button', { name: 'Save changes' }).click();
  await expect(other.getByTestId('meter-saved')).toBeVisible();
  const afterOther = await rest(baseURL!, apiKey, 'GET', `/api/usage/meters/${String(created.body.id)}`);
  expect((afterOther.body.plan_limits as Limit[]).map((l) => [l.plan_name, l.limit_value])).toEqual([
    ['free', '20'],
    ['pro', '1000'],
  ]);
  await other.close();

  // First tab: only the name changes.
  await field(page, 'display_name').fill('API requests');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('alert')).toContainText('changed at');
  await expect(page.getByRole('alert')).toContainText('Nothing was saved');
  await expect(page.getByTestId('meter-saved')).toHaveCount(0);
  const now = await rest(baseURL!, apiKey, 'GET', `/api/usage/meters/${String(created.body.id)}`);
  expect({ name: now.body.display_name, limits: (now.body.plan_limits as Limit[]).map((l) => [l.plan_name, l.limit_value]) }).toEqual({
    name: 'API calls',
    limits: [
      ['free', '20'],
      ['pro', '1000'],
    ],
  });

  // Reloaded, the page shows both plans, and the rename saves alone.
  await page.goto(meterUrl);
  await expect(field(page, 'plan_limits[1].plan_name')).toHaveValue('pro');
  await field(page, 'display_name').fill('API requests');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByTestId('meter-saved')).toBeVisible();
  const renamed = await rest(baseURL!, apiKey, 'GET', `/api/usage/meters/${String(created.body.id)}`);
  expect({ name: renamed.body.display_name, limits: (renamed.body.plan_limits as Limit[]).map((l) => [l.plan_name, l.limit_value]) }).toEqual({
    name: 'API requests',
    limits: [
      ['free', '20'],
      ['pro', '1000'],
    ],
  });
});

// Customer alice is on "starter" (api_calls: 1000 calls, then $0.01 per call). The creator
// picks "growth" (1000 calls, soft limit at 80 %, then $0.002 per call) in the plan form: the
// preview of its effect read "From now on: No limit changes." — yet from the next event alice
// is billed a fifth of the overage price and gets soft-limit alerts (it compared only the limit
// and the hard cap).
test('Customer page: plan preview shows overage and soft limit changes', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  ok(
    await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', {
      event_name: 'api_calls',
      display_name: 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'starter', limit_value: '1000', overage_price: '0.01' },
        { plan_name: 'growth', limit_value: '1000', overage_price: '0.002', soft_limit_threshold: '0.8' },
      ],
    }),
  );
  ok(await rest(baseURL!, apiKey, 'PUT', '/api/usage/customers/alice', { plan_name: 'starter' }));
  await page.goto(`${DASHBOARD}/customers/alice`);
  await page.getByLabel('Plan', { exact: true }).selectOption('growth');
  const effect = page.getByTestId('plan-effect');
  await expect(effect).toBeVisible();
  await expect(effect).toContainText('api_calls: 1,000 calls · then $0.01 each → 1,000 calls · soft limit at 80 % · then $0.002 each');
  await expect(effect).not.toContainText('No limit changes');
});
