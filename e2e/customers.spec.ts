import type { Page } from '@playwright/test';
import { creatorWithKey, DASHBOARD, expect, newCreator, rest, screenshots, signUpInBrowser, test } from './fixtures';

/**
 * Top users and the customer page, end to end: a creator's backend sends events for three
 * customers; the creator finds them ranked, opens one, reads its limit bars and the events
 * behind them, filters by a property and changes the plan. Another creator gets 404 there.
 */

const WEIRD_ID = "carol/o'neil +1?";

const rowIds = (page: Page) => page.getByTestId('top-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-user-id')));

// Ranks customers, opens one, reads and filters the events behind its usage, changes its plan; another creator gets 404.
test('Top users and a customer page', async ({ page, creator, baseURL, browser }) => {
  test.setTimeout(150_000);
  if (!baseURL) throw new Error('baseURL is not configured');
  await page.setViewportSize({ width: 1280, height: 900 });
  const apiKey = await creatorWithKey(page, creator);

  // Given no meter yet, Top users says what to do first
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Top users' }).click();
  await expect(page).toHaveURL(`${DASHBOARD}/customers`);
  await expect(page.getByTestId('top-no-meters')).toBeVisible();

  // And with a meter but no events, it explains how customers appear
  const calls = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    plan_limits: [
      { plan_name: 'starter', limit_value: '10', overage_price: '0.25', soft_limit_threshold: '0.8' },
      { plan_name: 'pro', limit_value: '100', overage_price: '0.1', hard_cap: true },
    ],
  });
  expect(calls.status, calls.text).toBe(201);
  const watch = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'watch_time',
    display_name: 'Watch time',
    aggregation_type: 'duration',
    unit_name: 'minutes',
    plan_limits: [{ plan_name: 'starter', limit_value: '30' }],
  });
  expect(watch.status, watch.text).toBe(201);
  await page.reload();
  await expect(page.getByTestId('top-empty')).toContainText('No customers yet');

  // When the creator's backend sends events for three customers
  for (const [userId, fields] of [
    ['alice', { plan_name: 'starter', email: 'alice@acme.example', name: 'Alice Liddell', stripe_customer_id: 'cus_E2Ealice' }],
    ['bob', { plan_name: 'pro', email: 'bob@acme.example' }],
    [WEIRD_ID, { plan_name: 'starter', name: "Carol O'Neil" }],
  ] as const) {
    const upserted = await rest(baseURL, apiKey, 'PUT', `/api/usage/customers/${encodeURIComponent(userId)}`, fields);
    expect(upserted.status, upserted.text).toBe(201);
  }
  const events = [
    ...Array.from({ length: 10 }, (_, i) => ({ event_name: 'api_calls', user_id: 'alice', properties: { endpoint: '/v1/search', region: 'eu' }, idempotency_key: `alice-s-${i}` })),
    ...Array.from({ length: 4 }, () => ({ event_name: 'api_calls', user_id: 'alice', properties: { endpoint: '/v1/chat', model: 'large', prompt: 'x'.repeat(120) } })),
    { event_name: 'watch_time', user_id: 'alice', value: '600' },
    ...Array.from({ length: 30 }, () => ({ event_name: 'api_calls', user_id: 'bob' })),
    ...Array.from({ length: 5 }, () => ({ event_name: 'api_calls', user_id: WEIRD_ID })),
  ];
  const tracked = await rest(baseURL, apiKey, 'POST', '/api/usage/track', events);
  expect(tracked.status, tracked.text).toBe(200);
  expect((tracked.body.results as Array<{ status: number }>).every((r) => r.status === 201)).toBe(true);

  // Then Top users ranks them by usage, with each one's share of the limit and overage
  await page.reload();
  await expect(page.getByTestId('top-summary')).toContainText('3 customers with usage of api_calls');
  expect(await rowIds(page)).toEqual(['bob', 'alice', WEIRD_ID]);
  const alice = page.locator('[data-testid="top-row"][data-user-id="alice"]');
  await expect(alice.getByTestId('top-used')).toContainText('14');
  await expect(alice.getByRole('meter')).toHaveAttribute('aria-valuetext', /^140 % of the limit/);
  await expect(alice.getByTestId('top-overage')).toContainText('$1.00');
  await expect(alice.getByTestId('top-overage')).toContainText('4 calls');
  await screenshots(page, 'top-users');

  // When they order by % of limit and search
  await page.getByLabel('Order by').selectOption('percent');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/sort=percent/);
  expect(await rowIds(page)).toEqual(['alice', WEIRD_ID, 'bob']);
  await page.getByLabel('Search').fill('CAR');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect.poll(() => rowIds(page)).toEqual([WEIRD_ID]);

  // And open a customer whose id needs encoding
  await page.getByRole('link', { name: WEIRD_ID }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(WEIRD_ID);
  await expect(page.locator('[data-testid="meter-usage"][data-event-name="api_calls"]').getByTestId('meter-used')).toContainText('5 / 10 calls');
  // And its address, loaded directly, is the same page
  await page.goto(`${DASHBOARD}/customers/${encodeURIComponent(WEIRD_ID)}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(WEIRD_ID);

  // When they open alice from the ranking
  await page.getByRole('link', { name: '← Top users' }).click();
  await page.getByRole('link', { name: 'alice', exact: true }).click();
  await expect(page).toHaveURL(`${DASHBOARD}/customers/alice`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('alice');
  await expect(page.getByText('Alice Liddell · alice@acme.example')).toBeVisible();
  await expect(page.getByRole('link', { name: 'cus_E2Ealice ↗' })).toHaveAttribute('href', 'https://dashboard.stripe.com/customers/cus_E2Ealice');

  // Then each meter shows used / limit with its bar, soft-limit mark and overage
  const apiCalls = page.locator('[data-testid="meter-usage"][data-event-name="api_calls"]');
  await expect(apiCalls.getByTestId('meter-used')).toContainText('14 / 10 calls');
  await expect(apiCalls.getByRole('meter')).toHaveAttribute('aria-valuetext', '140 % of the limit, soft limit at 80 %');
  await expect(apiCalls.getByTestId('meter-overage')).toHaveText('4 calls over: $1.00 at $0.25 each.');
  await expect(page.locator('[data-testid="meter-usage"][data-event-name="watch_time"]').getByTestId('meter-used')).toContainText('10 / 30 minutes');

  // And the events explorer shows every event with what it counted for, and how the total is made
  await expect(page.getByTestId('event-row')).toHaveCount(15);
  await expect(page.getByTestId('events-explained')).toContainText('API calls: 14 calls = 14 events, each counting 1');
  await expect(page.getByTestId('events-explained')).toContainText('Watch time: 10 minutes = sum of the durations of 1 event');
  const watchRow = page.getByTestId('event-row').filter({ hasText: 'watch_time' });
  await expect(watchRow.getByTestId('event-counted')).toContainText('+10');
  // The soft limit was crossed at 8 calls and overage started at 11: both alerts are listed,
  // each with the threshold it crossed (the soft limit's 80 %, the limit itself)
  await expect(page.getByTestId('customer-alert')).toHaveCount(2);
  await expect(page.getByTestId('customer-alert').filter({ hasText: 'Soft limit reached' })).toContainText('at 80 % of the limit');
  await expect(page.getByTestId('customer-alert').filter({ hasText: 'Overage started' })).toContainText('at 100 % of the limit');

  // And the daily chart fills once the rollups have run (a worker does this within seconds)
  await expect(async () => {
    await page.reload();
    await expect(page.getByText('No daily totals yet')).toHaveCount(0);
  }).toPass({ timeout: 30_000 });
  await screenshots(page, 'customer');

  // When they filter the events by a property
  const explorer = page.getByRole('form', { name: 'Filter events' });
  await explorer.getByLabel('Property').fill('endpoint');
  await explorer.getByLabel('Equals').fill('/v1/chat');
  await explorer.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/key=endpoint&value=%2Fv1%2Fchat/);
  await expect(page.getByTestId('event-row')).toHaveCount(4);
  // And a long property list is truncated, with the whole JSON one click away
  const first = page.getByTestId('event-row').first();
  await first.getByText('show all').click();
  await expect(first.locator('pre')).toContainText('"model": "large"');

  // And an impossible time range is refused beside its field
  await explorer.getByLabel('From (UTC)').fill('2026-11-20T10:00');
  await explorer.getByLabel('To (UTC)').fill('2026-11-19T10:00');
  await explorer.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByText('To (UTC) must not be before from')).toBeVisible();

  // When they move alice to the pro plan, the effect is shown before saving
  await page.getByLabel('Plan', { exact: true }).selectOption('pro');
  await expect(page.getByTestId('plan-effect')).toContainText('api_calls: 10 calls · soft limit at 80 % · then $0.25 each → 100 calls (hard cap)');
  await page.getByRole('button', { name: 'Save plan' }).click();
  await expect(page.getByTestId('plan-saved')).toHaveText('Plan changed to pro. Its limits apply from now on.');
  await expect(page.getByTestId('customer-plan')).toHaveText('pro');
  await expect(apiCalls.getByTestId('meter-used')).toContainText('14 / 100 calls');

  // Then another creator opening alice's address gets the 404 page
  const other = await browser.newContext({ baseURL });
  const otherPage = await other.newPage();
  await signUpInBrowser(otherPage, newCreator('customers-b'));
  await expect(otherPage).toHaveURL(DASHBOARD);
  const response = await otherPage.goto(`${DASHBOARD}/customers/alice`);
  expect(response?.status()).toBe(404);
  await expect(otherPage.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await expect(otherPage.getByText('alice@acme.example')).toHaveCount(0);
  await other.close();
});

// A customer billed from mid-month, three periods in the History: the Billing periods chart's
// x axis showed one label ("27 Sept – 27 Oct 2026"), the others dropped for want of room
// (each whole period label takes ~150 px of a ~380 px chart). The creator should see a label
// under every bar, the whole period still in the tooltip and the table.
test('Customer page: the billing-periods chart labels every period', async ({ page, creator, baseURL }) => {
  if (!baseURL) throw new Error('baseURL is not configured');
  await page.setViewportSize({ width: 1280, height: 900 });
  const apiKey = await creatorWithKey(page, creator);
  const DAY = 86_400_000;
  expect((await rest(baseURL, apiKey, 'PUT', '/api/usage/settings', { late_event_grace_hours: 840 })).status).toBe(200);
  const meter = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [] });
  expect(meter.status, meter.text).toBe(201);
  // Billed from two days ago: events 34 days ago fall in the period before last (no period is longer than 31 days).
  const customer = await rest(baseURL, apiKey, 'PUT', '/api/usage/customers/mid-month', { billing_anchor: new Date(Date.now() - 2 * DAY).toISOString() });
  expect(customer.status, customer.text).toBe(201);
  const events = [34, 20, 1].flatMap((daysAgo, period) =>
    Array.from({ length: 3 + period }, (_, i) => ({ event_name: 'api_calls', user_id: 'mid-month', timestamp: new Date(Date.now() - daysAgo * DAY + i * 1000).toISOString() })),
  );
  const tracked = await rest(baseURL, apiKey, 'POST', '/api/usage/track', events);
  expect(tracked.status, tracked.text).toBe(200);
  expect((tracked.body.results as Array<{ status: number }>).map((r) => r.status)).toEqual(events.map(() => 201));

  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.goto(`${DASHBOARD}/customers/mid-month`);
    const history = page.locator('#history');
    await expect(history.getByTestId('history-periods-table').locator('tbody tr')).toHaveCount(3);
    const chart = history.getByRole('heading', { name: 'Billing periods' }).locator('xpath=following-sibling::div[1]');
    const ticks = chart.locator('.recharts-xAxis .recharts-cartesian-axis-tick-value');
    await expect(ticks.first()).toBeVisible();
    // One label per bar, each on screen
    await expect(ticks, `x-axis labels at ${width} px`).toHaveCount(3);
    for (const tick of await ticks.all()) await expect(tick).toBeVisible();
    // The whole period is in the tooltip
    await chart.locator('.recharts-bar-rectangle').last().hover();
    await expect(chart.locator('.recharts-tooltip-wrapper')).toContainText('(now)');
  }
});
