import { creatorWithKey, DASHBOARD, expect, rest, screenshots, test } from './fixtures';

/**
 * The Revenue page, end to end: customers go over a soft limit this period and last
 * period (over the HTTP API, as a creator's backend would), the page shows the overage
 * they owe, and the what-if simulator prices a lower limit and a hard cap on last
 * period's usage — and refuses a limit that is not a number, beside the field.
 *
 * Last period is made recent with a billing anchor an hour ago: the customers' previous
 * period closed an hour ago, so events back-dated into it are within the late-event grace.
 */


test('a new creator sees the empty state, then overage owed this period and a what-if on last period', async ({ page, creator, baseURL }) => {
  test.setTimeout(120_000);
  if (!baseURL) throw new Error('baseURL is not configured');

  // Given a new creator: the Revenue page says there is nothing to price yet
  const apiKey = await creatorWithKey(page, creator);
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Revenue' }).click();
  await expect(page).toHaveURL(`${DASHBOARD}/revenue`);
  await expect(page.getByRole('heading', { name: 'Revenue', level: 1 })).toBeVisible();
  await expect(page.getByTestId('revenue-no-meters')).toBeVisible();
  await expect(page.getByTestId('what-if-no-plans')).toBeVisible();
  await screenshots(page, 'revenue-empty');

  // And an api_calls meter whose pro plan allows 5 calls a period, then bills $0.50 a call
  const meter = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    plan_limits: [{ plan_name: 'pro', limit_value: 5, overage_price: '0.5' }],
  });
  expect(meter.status).toBe(201);
  const meterId = meter.body.id as string;

  // And three pro customers whose billing period started an hour ago
  const now = Date.now();
  const anchor = new Date(now - 3600_000).toISOString();
  for (const user of ['acme', 'globex', 'initech']) {
    expect((await rest(baseURL, apiKey, 'PUT', `/api/usage/customers/${user}`, { plan_name: 'pro', billing_anchor: anchor })).status).toBe(201);
  }
  const calls = async (user: string, count: number, timestamp?: string) => {
    const batch = Array.from({ length: count }, () => ({ event_name: 'api_calls', user_id: user, ...(timestamp ? { timestamp } : {}) }));
    const answer = await rest(baseURL, apiKey, 'POST', '/api/usage/track', batch);
    expect(answer.status).toBe(200);
    expect((answer.body.results as Array<{ status: number }>).map((r) => r.status)).toEqual(batch.map(() => 201));
  };
  // When last period (back-dated two hours) acme made 7 calls, globex 4, initech 6
  const lastPeriod = new Date(now - 2 * 3600_000).toISOString();
  await calls('acme', 7, lastPeriod);
  await calls('globex', 4, lastPeriod);
  await calls('initech', 6, lastPeriod);
  // And this period acme made 8 calls (3 over) and globex 3
  await calls('acme', 8);
  await calls('globex', 3);

  // Then the Revenue page shows $1.50 of overage on api_calls this period, and a projection
  await page.reload();
  await expect(page.getByTestId('revenue-so-far')).toContainText('$1.50');
  const row = page.locator('[data-testid="revenue-meter-row"][data-event-name="api_calls"]');
  await expect(row.getByTestId('revenue-meter-amount')).toHaveText('$1.50');
  await expect(page.getByTestId('revenue-total-so-far')).toHaveText('$1.50');
  await expect(page.getByTestId('revenue-plan-row')).toContainText('pro');
  await expect(page.getByTestId('revenue-projected')).not.toContainText('$0.00');
  await expect(page.getByText('projected at each customer’s run-rate')).toBeVisible();

  // When they pick the meter and plan in the what-if: the fields start from today's terms
  const whatIf = page.getByRole('form', { name: 'What-if simulation' });
  await whatIf.getByLabel('Meter').selectOption(meterId);
  await expect(whatIf.getByLabel('Limit', { exact: true })).toHaveValue('5');
  await expect(whatIf.getByLabel('Overage price')).toHaveValue('0.5');
  await expect(page.getByTestId('what-if-delta')).toContainText('$0.00');

  // And they try a limit that is not a number
  await whatIf.getByLabel('Limit', { exact: true }).fill('lots');
  await whatIf.getByRole('button', { name: 'Simulate' }).click();
  // Then the limit is refused beside the field, which keeps what they typed
  await expect(whatIf.getByLabel('Limit', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#field-limit-error')).toContainText('Limit must be a decimal');
  await expect(whatIf.getByLabel('Limit', { exact: true })).toHaveValue('lots');

  // When they lower the limit to 3
  await whatIf.getByLabel('Limit', { exact: true }).fill('3');
  await whatIf.getByRole('button', { name: 'Simulate' }).click();
  // Then last period would have billed $4.00 instead of $1.50: +$2.50, globex newly in overage
  await expect(page.getByTestId('what-if-before')).toContainText('$1.50');
  await expect(page.getByTestId('what-if-after')).toContainText('$4.00');
  const delta = page.getByTestId('what-if-delta');
  await expect(delta).toContainText('+$2.50');
  await expect(delta.locator('.text-emerald-700')).toBeVisible();
  await expect(page.getByTestId('what-if-newly-over')).toContainText('1 newly in overage');
  await expect(page.getByTestId('what-if-customer')).toHaveCount(3);
  await expect(page.getByTestId('what-if-customer').first().getByRole('link')).toHaveAttribute('href', `${DASHBOARD}/customers/acme`);
  // The simulation is a link to share, and nothing was saved
  expect(new URL(page.url()).searchParams.get('limit')).toBe('3');
  await expect(page.getByTestId('what-if-apply')).toHaveAttribute('href', `${DASHBOARD}/meters/${meterId}`);
  expect(((await rest(baseURL, apiKey, 'GET', `/api/usage/meters/${meterId}`)).body.plan_limits as Array<{ limit_value: string }>)[0]!.limit_value).toBe('5');
  await screenshots(page, 'revenue');

  // The same link works without JavaScript: the server renders the simulation
  const shared = await page.request.get(`${DASHBOARD}/revenue?meter=${meterId}&plan=pro&limit=3&price=0.5&edit=1`);
  expect(shared.status()).toBe(200);
  const html = await shared.text();
  expect(html).toContain('+$2.50');
  expect(html).toContain('$4.00');
  // And a plan the meter does not have is refused beside the plan field, keeping the rest
  const unknownPlan = await page.request.get(`${DASHBOARD}/revenue?meter=${meterId}&plan=gold&limit=3&price=0.5&edit=1`);
  expect(unknownPlan.status()).toBe(200);
  const refused = await unknownPlan.text();
  expect(refused).toMatch(/id="what-if-plan-error"[^>]*>Plan is not a plan of api_calls \(its plans: pro\)/);
  expect(refused).toContain('value="3"');

  // When they try a hard cap at 5 instead
  await whatIf.getByLabel('Limit', { exact: true }).fill('5');
  await whatIf.getByLabel('Hard cap').check();
  await whatIf.getByRole('button', { name: 'Simulate' }).click();
  // Then acme and initech would have been capped, and the overage revenue lost shows in red
  await expect(page.getByTestId('what-if-newly-capped')).toContainText('2 newly capped');
  await expect(page.getByTestId('what-if-delta')).toContainText('−$1.50');
  await expect(page.getByTestId('what-if-delta').locator('.text-red-700')).toBeVisible();
});
