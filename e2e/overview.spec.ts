import type { Page } from '@playwright/test';
import { createAdminKeyInBrowser, DASHBOARD, expect, rest, signUpInBrowser, test } from './fixtures';

/**
 * The overview updates live (no reload) as events arrive, and Trends charts them by day,
 * by plan and against the previous range.
 */

async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: `e2e/screenshots/${name}.png`, fullPage: true });
}

test('the overview updates live as events arrive, and trends chart them', async ({ page, creator, baseURL }) => {
  test.setTimeout(120_000);
  if (!baseURL) throw new Error('baseURL is not configured');
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  const apiKey = await createAdminKeyInBrowser(page);

  const meter = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    rollup_dimensions: ['endpoint'],
    plan_limits: [
      { plan_name: 'free', limit_value: 10, soft_limit_threshold: 0.5, hard_cap: true },
      { plan_name: 'pro', limit_value: 5, overage_price: '0.2', hard_cap: false },
    ],
  });
  expect(meter.status).toBe(201);
  expect((await rest(baseURL, apiKey, 'PUT', '/api/usage/settings', { late_event_grace_hours: 840 })).status).toBe(200);
  for (const [user, plan] of [
    ['ada', 'free'],
    ['bo', 'pro'],
  ] as const) {
    expect((await rest(baseURL, apiKey, 'PUT', `/api/usage/customers/${user}`, { plan_name: plan, name: user.toUpperCase() })).status).toBeLessThan(300);
  }

  // The overview, before any event: the getting-started steps, polling live.
  await page.goto(DASHBOARD);
  await expect(page.getByTestId('empty-state')).toBeVisible();
  await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
  await screenshot(page, 'overview-empty');

  // Events from the creator's backend (here: fetch from the page's own browser).
  const sent = await page.evaluate(
    async ({ apiKey }) => {
      const events = [
        ...Array.from({ length: 6 }, (_, i) => ({ event_name: 'api_calls', user_id: 'ada', properties: { endpoint: i % 2 ? '/search' : '/items' } })),
        ...Array.from({ length: 8 }, () => ({ event_name: 'api_calls', user_id: 'bo', properties: { endpoint: '/items' } })),
      ];
      const response = await fetch('/api/usage/track', { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(events) });
      return response.status;
    },
    { apiKey },
  );
  expect(sent).toBe(200);

  // Without a reload, the overview turns into the live figures.
  await expect(page.getByTestId('kpi-events-value')).toHaveText('14', { timeout: 20_000 });
  // The chart ends at the last complete minute; the minute under way is said in words (all
  // 14 went out together: they are this minute's, or the minute has turned since).
  await expect(page.getByTestId('events-this-minute')).toHaveText(/^(14|0)$/);
  await expect(page.getByTestId('kpi-customers-value')).toHaveText('2');
  await expect(page.getByTestId('kpi-overage-value')).toHaveText('$0.60');
  await expect(page.getByTestId('overview-meter-api_calls').getByTestId('meter-used')).toContainText('14');
  await expect(page.getByTestId('attention-bo')).toContainText('160 %');
  await expect(page.getByTestId('attention-ada')).toContainText('60 %');
  await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('[data-testid="events-per-minute"] svg').first()).toBeVisible();
  await screenshot(page, 'overview');

  // More events show up on the next poll.
  await page.evaluate(async ({ apiKey }) => {
    await fetch('/api/usage/track', { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ event_name: 'api_calls', user_id: 'cy' }) });
  }, { apiKey });
  await expect(page.getByTestId('kpi-events-value')).toHaveText('15', { timeout: 20_000 });
  await expect(page.getByTestId('kpi-customers-value')).toHaveText('3');

  // Up to date, the chart says nothing of lag. When the job workers fall behind (here the
  // overview's answer says its oldest event not yet in the charts was committed 90 s ago),
  // the chart says so, and stops once they have caught up.
  await expect(page.getByTestId('charts-behind')).toHaveCount(0);
  const overviewQuery = '**/api/trpc/insights.overview*';
  await page.route(overviewQuery, async (route) => {
    const response = await route.fetch();
    type Answer = { result: { data: { generated_at: string; rollups_pending_since: string | null } } };
    const behind = (answer: Answer): Answer => {
      const data = answer.result.data;
      return { result: { data: { ...data, rollups_pending_since: new Date(Date.parse(data.generated_at) - 90_000).toISOString() } } };
    };
    const body = (await response.json()) as Answer | Answer[];
    await route.fulfill({ response, json: Array.isArray(body) ? body.map(behind) : behind(body) });
  });
  await expect(page.getByTestId('charts-behind')).toContainText('The charts are 90 s behind', { timeout: 20_000 });
  await screenshot(page, 'overview-charts-behind');
  await page.unroute(overviewQuery);
  await expect(page.getByTestId('charts-behind')).toHaveCount(0, { timeout: 20_000 });

  // Trends: daily totals, by plan, by property, compared with the previous range.
  await page.getByRole('link', { name: 'API calls' }).click();
  await expect(page).toHaveURL(new RegExp(`${DASHBOARD}/trends\\?meter=`));
  await expect(page.getByTestId('trend-total')).toContainText('15');
  await expect(page.locator('[data-testid="trend-chart"] svg').first()).toBeVisible();
  await page.getByLabel('Break down by').selectOption('plan');
  await expect(page).toHaveURL(/breakdown=plan/);
  await page.getByText('Show as a table').click();
  await expect(page.getByRole('columnheader', { name: 'free' })).toBeVisible();
  await expect(page.getByRole('columnheader', { name: 'pro' })).toBeVisible();
  await screenshot(page, 'trends-by-plan');
  await page.getByLabel('Break down by').selectOption('dim:endpoint');
  await expect(page.getByRole('columnheader', { name: '/items' })).toBeVisible();
  await page.getByLabel('Break down by').selectOption('none');
  await expect(page).toHaveURL(/breakdown=none/);
  await page.getByLabel('Compare with the previous range').check();
  await expect(page.getByTestId('trend-previous')).toContainText('0');
  await page.getByLabel('Range', { exact: true }).selectOption('24h');
  await expect(page).toHaveURL(/range=24h/);
  await expect(page.getByTestId('trend-total')).toContainText('15');
  await screenshot(page, 'trends');

  // A bad hand-edited link says what is wrong, and keeps the page.
  await page.goto(`${DASHBOARD}/trends?meter=${meter.body.id as string}&range=90d&grain=hour`);
  await expect(page.getByRole('alert')).toContainText('at most 744 fit one chart');

  // Phone width: the overview still reads top to bottom.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(DASHBOARD);
  await expect(page.getByTestId('kpi-events-value')).toHaveText('15');
  await screenshot(page, 'overview-phone');
});

test('when the session ends, the live overview stops polling and sends the creator to log in, then back', async ({ page, context, creator }) => {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  // The session goes (logged out elsewhere, or expired): the next poll is refused.
  await context.clearCookies();
  await expect(page).toHaveURL(`/login?next=${encodeURIComponent(DASHBOARD)}`, { timeout: 15_000 });
  await page.getByLabel('Email').fill(creator.email);
  await page.getByLabel('Password').fill(creator.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(DASHBOARD);
});
