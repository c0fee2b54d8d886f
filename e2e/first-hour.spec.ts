import { createAdminKeyInBrowser, DASHBOARD, expect, rest, signUpInBrowser, test } from './fixtures';

/**
 * A new creator's first hour in Chromium: what they see right after their first events
 * (from a review; each failed before its fix).
 */

const ok = (r: { status: number; text: string }) => expect(r.status, r.text).toBeLessThan(300);

// The creator has a meter and has opened the Overview ("No usage yet — three steps…"). Their
// backend sends its first 3 api_calls for user_123 (201 each), and they reload the Overview.
// The page knows there is usage (the three steps are gone, the live overview is shown), and
// its period figures must count the events too: it said "Active customers this period 0",
// "API calls 0 calls" — the cached period figures (server/services/insights.ts) were from
// before the first events, beside a fresh has_usage.
test('Overview: reloaded after the first events, the page as served counts them', async ({ page, creator, baseURL, browser }) => {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  const apiKey = await createAdminKeyInBrowser(page); // leaves the live overview: nothing polls it now
  ok(await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls' }));

  // The page exactly as the server sends it (no poll corrects it afterwards).
  const served = await browser.newContext({ baseURL, storageState: await page.context().storageState(), javaScriptEnabled: false });
  const overview = await served.newPage();
  await overview.goto(DASHBOARD);
  await expect(overview.getByTestId('empty-state')).toBeVisible();

  const tracked = await rest(baseURL!, apiKey, 'POST', '/api/usage/track', Array.from({ length: 3 }, () => ({ event_name: 'api_calls', user_id: 'user_123' })));
  ok(tracked);
  expect((tracked.body.results as Array<{ status: number }>).map((r) => r.status)).toEqual([201, 201, 201]);
  const usage = await rest(baseURL!, apiKey, 'GET', '/api/usage/customers/user_123/usage');
  expect((usage.body.meters as Array<{ used: string }>)[0]!.used).toBe('3');

  await overview.reload();
  await expect(overview.getByTestId('empty-state')).toHaveCount(0); // it knows there is usage now
  await expect(overview.getByTestId('overview-meter-api_calls').getByTestId('meter-used')).toContainText('3');
  await expect(overview.getByTestId('kpi-customers-value')).toHaveText('1');
  await served.close();
});

// The creator's first billing period: user_123 has 3 api_calls this period. On Top users they
// switch Period to "Previous period" (there was none with usage). The page says "No customers
// yet" and walks them through sending their first event and creating an API key — while
// they have a customer with usage, shown a click away. Expected: an empty state about the
// previous period (no usage in it), not first-run onboarding.
test('Top users: the previous period without usage is not shown as "No customers yet"', async ({ page, creator, baseURL }) => {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  const apiKey = await createAdminKeyInBrowser(page);
  ok(await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls' }));
  ok(await rest(baseURL!, apiKey, 'POST', '/api/usage/track', Array.from({ length: 3 }, () => ({ event_name: 'api_calls', user_id: 'user_123' }))));

  await page.goto(`${DASHBOARD}/customers`);
  await expect(page.locator('[data-testid="top-row"][data-user-id="user_123"]').first()).toBeVisible();
  await page.getByLabel('Period', { exact: true }).selectOption('previous');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/period=previous/);
  const empty = page.getByTestId('top-empty');
  await expect(empty).toBeVisible();
  await expect(empty).toContainText('No usage in the previous period');
  await expect(empty).not.toContainText('No customers yet');
});

// The SDK's setup asks for `creatorId` (README: initUsageTracking({ creatorId, … })); a creator who
// signed up in the browser found it nowhere on the dashboard (only GET /api/usage/me had it).
test('API keys: the page shows the creator id the SDK asks for', async ({ page, creator, baseURL }) => {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  const apiKey = await createAdminKeyInBrowser(page);
  const me = await rest(baseURL!, apiKey, 'GET', '/api/usage/me');
  ok(me);
  await page.goto(`${DASHBOARD}/keys`);
  await expect(page.getByTestId('creator-id')).toHaveText(String(me.body.creator_id));
  await expect(page.getByRole('button', { name: 'Copy creator id' })).toBeVisible();
});
