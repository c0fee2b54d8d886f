import type { Page } from '@playwright/test';
import { creatorWithKey, DASHBOARD, expect, rest, test } from './fixtures';

/** What has keyboard focus, described (tag, id, accessible-ish text). */
async function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'BODY';
    return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} "${(el.textContent ?? '').trim().slice(0, 60)}"`;
  });
}


async function meterWithUsage(page: Page, baseURL: string, apiKey: string): Promise<string> {
  const meter = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    plan_limits: [
      { plan_name: 'starter', limit_value: '10', overage_price: '0.25', soft_limit_threshold: '0.8' },
      { plan_name: 'pro', limit_value: '100', overage_price: '0.1' },
    ],
  });
  expect(meter.status, meter.text).toBe(201);
  expect((await rest(baseURL, apiKey, 'PUT', '/api/usage/customers/alice', { plan_name: 'starter' })).status).toBe(201);
  const tracked = await rest(baseURL, apiKey, 'POST', '/api/usage/track', Array.from({ length: 12 }, () => ({ event_name: 'api_calls', user_id: 'alice' })));
  expect(tracked.status, tracked.text).toBe(200);
  return String(meter.body.id);
}

/**
 * The dashboard with a keyboard and a screen reader: focus stays where the user is (a sending
 * button is aria-disabled, not disabled; a removed row hands focus on), confirmations close with
 * Escape, the live indicator announces its state only, and no page has an id twice.
 */

test('meter form: removing a plan-limit row with the keyboard keeps focus in the table', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(`${DASHBOARD}/meters/new`);
  const rows = await page.getByTestId('plan-limit-row').count();
  await page.getByRole('button', { name: 'Add a plan' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('plan-limit-row')).toHaveCount(rows + 1);
  await page.getByRole('button', { name: 'Remove plan 1' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('plan-limit-row')).toHaveCount(rows);
  // The pressed button is gone with its row: focus moves (a tick after the row goes) to the next row's Remove, or "Add a plan".
  // Read once right away, it raced that tick (a run saw <body>); waited for, it must land on one of those buttons.
  await expect.poll(() => focused(page)).toMatch(/^button.*"(Remove plan \S+|Add a plan)"$/);
});

test('overview: the live indicator announces its state, not its age every second', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(DASHBOARD);
  await expect(page.getByTestId('live-indicator')).toBeVisible();
  // Every polite live region in the indicator, and how often its text changes in 6 s with nothing new to say.
  const changes = await page.evaluate(async () => {
    const indicator = document.querySelector('[data-testid="live-indicator"]')!;
    const regions = [indicator.closest('[aria-live]'), ...indicator.querySelectorAll('[aria-live]')].filter((r): r is Element => r !== null);
    const seen = regions.map((r) => [r.textContent ?? '']);
    const observer = new MutationObserver(() => {
      regions.forEach((r, i) => {
        const text = r.textContent ?? '';
        if (text !== seen[i]!.at(-1)) seen[i]!.push(text);
      });
    });
    observer.observe(indicator, { subtree: true, characterData: true, childList: true });
    await new Promise((r) => setTimeout(r, 6_000));
    observer.disconnect();
    return { regions: regions.length, seen };
  });
  expect(changes.regions).toBeGreaterThan(0);
  // A screen reader reads each change of a polite region: "updated 2 s ago", "updated 3 s ago", … was read every second.
  for (const texts of changes.seen) expect(texts.length, texts.join(' | ')).toBeLessThanOrEqual(2);
  await expect(page.getByTestId('live-indicator').locator('[aria-live]')).toHaveText('Live');
});

test('no dashboard page has duplicate ids', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  await meterWithUsage(page, baseURL!, apiKey);
  const found: Record<string, string[]> = {};
  for (const path of ['', '/meters', '/meters/new', '/customers', '/customers/alice', '/trends', '/alerts', '/revenue', '/billing', '/settings', '/keys']) {
    await page.goto(`${DASHBOARD}${path}`);
    // The overview draws its charts once polling sees the usage.
    if (path === '') await expect(page.getByTestId('events-per-minute')).toBeVisible({ timeout: 20_000 });
    const dupes = await page.evaluate(() => {
      const counts = new Map<string, number>();
      for (const el of document.querySelectorAll('[id]')) counts.set(el.id, (counts.get(el.id) ?? 0) + 1);
      return [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id}×${n}`);
    });
    if (dupes.length) found[path || '/'] = dupes;
  }
  expect(found).toEqual({});
});

test('login: a wrong password submitted with Enter leaves focus on the form, not on <body>', async ({ page, creator }) => {
  await page.goto('/login');
  await page.getByLabel('Email').fill(creator.email);
  await page.getByLabel('Password').fill('wrong-password-123');
  await page.getByRole('button', { name: 'Log in' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('alert')).toBeVisible();
  expect(await focused(page)).not.toBe('BODY');
});

test('keys: a create-key error submitted with Enter leaves focus on the form, not on <body>', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(`${DASHBOARD}/keys`);
  await page.getByRole('button', { name: 'Create key' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByLabel('Name')).toHaveAttribute('aria-invalid', 'true');
  expect(await focused(page)).not.toBe('BODY');
});

test('confirm actions: Escape closes an opened Revoke confirmation', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(`${DASHBOARD}/keys`);
  const summary = page.locator('summary', { hasText: 'Revoke' });
  await summary.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('button', { name: 'Revoke key backend' })).toBeVisible();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Escape');
  await expect(page.getByRole('button', { name: 'Revoke key backend' })).toBeHidden();
  // Back on the summary that opened it
  expect(await focused(page)).toMatch(/^summary /);
});

test('keys: creating a key with Enter hands focus to the new key’s notice; revoking one to the result', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(`${DASHBOARD}/keys`);
  await page.getByLabel('Name').fill('worker');
  await page.getByRole('button', { name: 'Create key' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByText('worker', { exact: false }).first()).toBeVisible();
  await expect.poll(() => focused(page)).not.toBe('BODY');
  const summary = page.locator('summary', { hasText: 'Revoke' }).first();
  await summary.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: /^Revoke key / }).first().focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('status').filter({ hasText: /revoked/i })).toBeVisible();
  await expect.poll(() => focused(page)).not.toBe('BODY');
});

test('a meter archived, a plan changed with the keyboard: focus goes to the outcome, not <body>', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  const meterId = await meterWithUsage(page, baseURL!, apiKey);

  // The plan form keeps its button: focus stays on it (or on the notice), never on <body>.
  await page.goto(`${DASHBOARD}/customers/alice`);
  await page.getByLabel('Plan', { exact: true }).selectOption('pro');
  await page.getByRole('button', { name: 'Save plan' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('plan-saved')).toBeVisible();
  await expect.poll(() => focused(page)).not.toBe('BODY');

  // Archiving takes the Archive button away with it: focus goes to the "Meter archived." notice.
  await page.goto(`${DASHBOARD}/meters/${meterId}`);
  await page.locator('summary', { hasText: 'Archive meter' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Archive API calls' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('meter-archived')).toBeVisible();
  await expect.poll(() => focused(page)).toMatch(/Meter archived/);
});

test('trends: changing the range with the arrow keys keeps focus on the select; a refused custom date names its message', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  const meterId = await meterWithUsage(page, baseURL!, apiKey);
  await page.goto(`${DASHBOARD}/trends?meter=${meterId}`);
  const range = page.getByLabel('Range', { exact: true });
  await range.focus();
  const before = await range.inputValue();
  await page.keyboard.press('ArrowDown');
  await expect(page).not.toHaveURL(new RegExp(`range=${before}(&|$)`));
  await expect(page.getByTestId('trends')).not.toHaveAttribute('aria-busy', 'true');
  // The form's fields are rebuilt with the new range: focus comes back to the select the user is on.
  await expect.poll(() => focused(page)).toMatch(/^select#/);
  await expect(page.getByLabel('Range', { exact: true })).toBeFocused();

  // A custom range that ends before it starts: the date fields say which message is theirs.
  await page.goto(`${DASHBOARD}/trends?meter=${meterId}&range=custom&from=2026-06-10&to=2026-06-01`);
  const alert = page.getByRole('alert');
  await expect(alert).toBeVisible();
  const invalid = page.locator('input[type="date"][aria-invalid="true"]');
  await expect(invalid).toHaveCount(1);
  await expect(invalid).toHaveAccessibleDescription(((await alert.textContent()) ?? '').trim());
});
