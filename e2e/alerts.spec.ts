import type { Page } from '@playwright/test';
import { Webhook } from 'standardwebhooks';
import { startWebhookReceiver, type WebhookReceiver } from '../test/fakes/webhook-receiver';
import { creatorWithKey, DASHBOARD, expect, rest, signUpInBrowser, test } from './fixtures';

/**
 * Alerts in the dashboard, end to end: a customer crosses a soft limit over the HTTP API,
 * the creator sees the alert, its delivery log (a signed webhook to a live local receiver,
 * registered on the Settings page, and an email kept in the outbox — the e2e server has no
 * SMTP_URL) and acknowledges it.
 */

/** Reloads until `check` passes: the page shows what jobs have done since it was loaded. */
async function reloadUntil(page: Page, check: () => Promise<void>, timeout = 20_000) {
  await expect(async () => {
    await page.reload();
    await check();
  }).toPass({ timeout, intervals: [250, 500, 1_000] });
}

let receiver: WebhookReceiver;

test.beforeEach(async () => {
  receiver = await startWebhookReceiver();
});

test.afterEach(async () => {
  await receiver.close();
});

test('a soft-limit crossing shows up as an alert with its webhook and email, and is acknowledged', async ({ page, creator, baseURL }) => {
  test.setTimeout(120_000);
  if (!baseURL) throw new Error('baseURL is not configured');

  // Given a creator with an admin key, an api_calls meter whose "starter" plan allows 10 with a soft limit at 80 %,
  // and customer cust-e2e on it
  const apiKey = await creatorWithKey(page, creator);
  const meter = await rest(baseURL, apiKey, 'POST', '/api/usage/meters', {
    event_name: 'api_calls',
    display_name: 'API Calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    plan_limits: [{ plan_name: 'starter', limit_value: 10, soft_limit_threshold: 0.8 }],
  });
  expect(meter.status).toBe(201);
  expect((await rest(baseURL, apiKey, 'PUT', '/api/usage/customers/cust-e2e', { plan_name: 'starter', email: 'cust-e2e@customer.example' })).status).toBe(201);

  // And no alerts yet: the page explains when they appear
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Alerts' }).click();
  await expect(page).toHaveURL(`${DASHBOARD}/alerts`);
  await expect(page.getByTestId('alerts-empty')).toContainText('An alert is raised the moment a customer’s usage');

  // When the creator registers the local receiver as a webhook endpoint on the Settings page
  await page.goto(`${DASHBOARD}/settings`);
  await expect(page.getByTestId('no-webhooks')).toBeVisible();
  const hookUrl = `${receiver.url}/hooks/staryer`;
  await page.getByLabel('Endpoint URL').fill(hookUrl);
  await page.getByRole('button', { name: 'Add endpoint' }).click();

  // Then its signing secret is shown once, and the endpoint is listed as enabled for every alert event
  const secretBox = page.getByTestId('new-webhook-secret');
  await expect(secretBox).toBeVisible();
  const secret = ((await secretBox.textContent()) ?? '').trim();
  expect(secret).toMatch(/^whsec_/);
  receiver.setSecret(secret);
  const endpointRow = page.getByTestId('webhook-row').filter({ hasText: hookUrl });
  await expect(endpointRow).toContainText('Enabled');
  await expect(endpointRow).toContainText('soft_limit_reached');

  // And "send test event" reaches it, signed, and shows its status code and latency
  await endpointRow.getByRole('button', { name: `Send test event to ${hookUrl}` }).click();
  await expect(page.getByTestId('webhook-test-result')).toHaveText(/^Test event: HTTP 200 in \d+ ms$/);
  expect(receiver.delivered).toHaveLength(1);
  expect(receiver.delivered[0]!.body).toMatchObject({ type: 'usage.threshold_reached', test: true });

  // And the secret is not shown again
  await page.reload();
  await expect(page.getByTestId('new-webhook-secret')).toHaveCount(0);

  // When the customer makes 7 calls, then the 8th (80 % of 10)
  const seven = await rest(baseURL, apiKey, 'POST', '/api/usage/track', Array.from({ length: 7 }, () => ({ event_name: 'api_calls', user_id: 'cust-e2e' })));
  expect((seven.body.results as Array<{ status: number }>).every((r) => r.status === 201)).toBe(true);
  const eighth = await rest(baseURL, apiKey, 'POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'cust-e2e' });
  expect(eighth.status).toBe(201);
  expect(eighth.body.usage).toMatchObject({ used: '8', limit: '10' });

  // Then the Alerts page lists one open soft-limit alert
  await page.goto(`${DASHBOARD}/alerts`);
  const row = page.getByTestId('alert-row');
  await reloadUntil(page, () => expect(row).toHaveCount(1));
  await expect(row).toContainText('cust-e2e');
  await expect(row).toContainText('api_calls');
  await expect(row).toContainText('Soft limit reached');
  await expect(row).toContainText('8 / 10');
  await expect(row).toContainText('80 %');
  await expect(row.getByTestId('alert-status')).toHaveText('Open');

  // And the filters are query parameters: a link to the open soft-limit alerts shows it, one to overages does not
  await page.getByLabel('Status').selectOption('open');
  await page.getByLabel('Kind').selectOption('soft_limit_reached');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(/status=open/);
  await expect(page).toHaveURL(/kind=soft_limit_reached/);
  await expect(row).toHaveCount(1);
  await page.goto(`${DASHBOARD}/alerts?kind=overage_started`);
  await expect(page.getByTestId('alerts-none-match')).toBeVisible();
  await expect(page.getByLabel('Kind')).toHaveValue('overage_started');
  await page.getByRole('link', { name: 'Clear' }).click();
  await expect(row).toHaveCount(1);

  // When the creator opens it
  await row.getByRole('link', { name: /^Details/ }).click();
  await expect(page).toHaveURL(new RegExp(`${DASHBOARD}/alerts/[0-9a-f-]{36}$`));
  await expect(page.getByRole('heading', { name: 'Soft limit reached: cust-e2e' })).toBeVisible();
  await expect(page.getByTestId('alert-used')).toHaveText('8 / 10 calls');

  // Then its delivery log shows the webhook delivered (200) and the email to the creator kept in the outbox
  const webhookRow = page.getByTestId('webhook-delivery-row');
  const emailRow = page.getByTestId('email-delivery-row').filter({ hasText: creator.email });
  await reloadUntil(page, async () => {
    await expect(webhookRow.getByTestId('delivery-status')).toHaveText('Delivered');
    await expect(emailRow.getByTestId('delivery-status')).toHaveText('Outbox');
  });
  await expect(webhookRow).toContainText(hookUrl);
  await expect(webhookRow.getByTestId('webhook-status-code')).toHaveText('200');
  await expect(emailRow).toContainText('creator');

  // And the receiver got it signed, as DESIGN.md shapes it
  const alertHook = receiver.delivered.find((w) => w.body?.type === 'usage.soft_limit_reached');
  expect(alertHook).toBeDefined();
  expect(() => new Webhook(secret).verify(alertHook!.rawBody, alertHook!.headers)).not.toThrow();
  expect(alertHook!.body.data).toMatchObject({ user_id: 'cust-e2e', event_name: 'api_calls', used: '8', limit: '10', threshold: '0.8' });

  // When they acknowledge it
  await page.getByRole('button', { name: 'Acknowledge' }).click();

  // Then its status changes, with when and how
  await expect(page.getByRole('status')).toHaveText('Alert acknowledged.');
  await expect(page.getByTestId('alert-status')).toHaveText('Acknowledged');
  await expect(page.getByTestId('alert-acknowledged')).toContainText('in the dashboard');
  await expect(page.getByRole('button', { name: 'Acknowledge' })).toHaveCount(0);

  // And muting the customer on this meter is one click away
  await page.getByRole('button', { name: 'Mute cust-e2e on this meter' }).click();
  await expect(page.getByRole('status')).toHaveText('Notifications muted for cust-e2e on api_calls. Alerts are still recorded.');

  // And the list shows it acknowledged, as does the API
  await page.getByRole('link', { name: '← All alerts' }).click();
  await expect(row.getByTestId('alert-status')).toHaveText('Acknowledged');
  await expect(row.getByRole('button', { name: /^Acknowledge/ })).toHaveCount(0);
  const listed = await rest(baseURL, apiKey, 'GET', '/api/usage/alerts');
  expect(listed.body.alerts).toMatchObject([{ kind: 'soft_limit_reached', status: 'acknowledged', user_id: 'cust-e2e' }]);

  // And Settings shows the email in the outbox (no SMTP server in e2e) and the job queues
  await page.goto(`${DASHBOARD}/settings`);
  const emailLogRow = page.getByTestId('email-row').filter({ hasText: creator.email });
  await expect(emailLogRow).toHaveCount(1);
  await expect(emailLogRow.getByTestId('delivery-status')).toHaveText('Outbox');
  await expect(page.getByTestId('queue-row').filter({ hasText: 'webhooks.deliver' })).toBeVisible();

  // And the endpoint's deliveries: the alert's message and the test, and a replay with the same webhook-id
  await page.getByTestId('webhook-row').filter({ hasText: hookUrl }).getByRole('link', { name: /^Deliveries/ }).click();
  await expect(page.getByRole('heading', { name: 'Webhook deliveries' })).toBeVisible();
  const messages = page.getByTestId('webhook-message-row');
  await expect(messages).toHaveCount(2);
  const alertMessage = messages.filter({ hasText: 'usage.soft_limit_reached' });
  await expect(alertMessage.getByTestId('delivery-status')).toHaveText('Delivered');
  await alertMessage.getByRole('button', { name: /^Replay/ }).click();
  await expect(page.getByTestId('attempt-result')).toHaveText(/^Replay of msg_\S+: HTTP 200 in \d+ ms$/);
  const replays = receiver.delivered.filter((w) => w.id === alertHook!.id);
  expect(replays).toHaveLength(2);
});

test('settings forms keep what was typed and say what is wrong; endpoints are disabled, enabled and deleted', async ({ page, creator, baseURL }) => {
  if (!baseURL) throw new Error('baseURL is not configured');
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  await page.goto(`${DASHBOARD}/settings`);

  // Defaults: a grace that is not whole hours is refused beside the field, the input kept
  await page.getByLabel('Default plan').fill('starter');
  await page.getByLabel('Late-event grace (hours)').fill('1.5');
  await page.getByRole('button', { name: 'Save defaults' }).click();
  await expect(page.getByLabel('Late-event grace (hours)')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#field-late_event_grace_hours-error')).toHaveText('Late-event grace (hours) must be a whole number of hours');
  await expect(page.getByLabel('Default plan')).toHaveValue('starter');
  await page.getByLabel('Late-event grace (hours)').fill('48');
  await page.getByRole('button', { name: 'Save defaults' }).click();
  await expect(page.getByRole('status')).toHaveText('Defaults saved.');
  await page.reload();
  await expect(page.getByLabel('Default plan')).toHaveValue('starter');
  await expect(page.getByLabel('Late-event grace (hours)')).toHaveValue('48');

  // Alert emails: a bad address and a non-http upgrade link, each named
  await page.getByLabel('Send alerts to').fill('not-an-email');
  await page.getByLabel('Upgrade link').fill('ftp://example.com/pricing');
  await page.getByLabel('Overage started').uncheck();
  await page.getByLabel('Email my customers too').check();
  await page.getByRole('button', { name: 'Save alert emails' }).click();
  await expect(page.locator('#field-creator_email-error')).toContainText('Send alerts to must be a valid email address');
  await expect(page.locator('#field-upgrade_url-error')).toContainText('Upgrade link must be an http(s) URL');
  await expect(page.getByLabel('Send alerts to')).toHaveValue('not-an-email');
  await expect(page.getByLabel('Overage started')).not.toBeChecked();
  await expect(page.getByLabel('Email my customers too')).toBeChecked();
  await page.getByLabel('Send alerts to').fill('alerts@acme.example');
  await page.getByLabel('Upgrade link').fill('https://acme.example/pricing');
  await page.getByRole('button', { name: 'Save alert emails' }).click();
  await expect(page.getByRole('status')).toHaveText('Alert email settings saved.');
  await page.reload();
  await expect(page.getByLabel('Send alerts to')).toHaveValue('alerts@acme.example');
  await expect(page.getByLabel('Overage started')).not.toBeChecked();
  await expect(page.getByLabel('Soft limit reached')).toBeChecked();
  await expect(page.getByLabel('Email my customers too')).toBeChecked();

  // Webhooks: a non-http URL and no events are refused, the URL kept
  await page.getByLabel('Endpoint URL').fill('ftp://example.com/hook');
  for (const type of ['usage.soft_limit_reached', 'usage.hard_limit_reached', 'usage.overage_started', 'usage.threshold_reached']) await page.getByLabel(type).uncheck();
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await expect(page.locator('#field-url-error')).toHaveText('Endpoint URL must use http or https');
  await expect(page.getByText('Choose at least one event.')).toBeVisible();
  await expect(page.getByLabel('Endpoint URL')).toHaveValue('ftp://example.com/hook');
  await expect(page.getByTestId('new-webhook-secret')).toHaveCount(0);

  // A valid one is listed; disabling and enabling it says so; deleting it (confirmed) removes it
  await page.getByLabel('Endpoint URL').fill(`${receiver.url}/manage`);
  await page.getByLabel('usage.overage_started').check();
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await expect(page.getByTestId('new-webhook-secret')).toBeVisible();
  const endpointRow = page.getByTestId('webhook-row');
  await expect(endpointRow).toHaveCount(1);
  await expect(endpointRow).toContainText('overage_started');
  await endpointRow.getByRole('button', { name: /^Disable/ }).click();
  await expect(endpointRow).toContainText('Disabled');
  await expect(endpointRow).toContainText('Disabled by the creator.');
  await endpointRow.getByRole('button', { name: /^Enable/ }).click();
  await expect(endpointRow).toContainText('Enabled');
  await endpointRow.locator('summary').click();
  await endpointRow.getByRole('button', { name: /^Delete endpoint/ }).click();
  await expect(page.getByRole('status')).toHaveText('Endpoint deleted.');
  await expect(page.getByTestId('no-webhooks')).toBeVisible();

  // The Alerts page's mute form names what is missing, and keeps what was typed
  await page.goto(`${DASHBOARD}/alerts`);
  await page.getByLabel('Customer user_id').fill('   ');
  await page.getByRole('button', { name: 'Mute notifications' }).click();
  await expect(page.locator('#field-user_id-error')).toHaveText('Customer user_id must not be empty');
  await expect(page.locator('#field-meter_id-error')).toHaveText('Choose a meter.');
  await page.goto(`${DASHBOARD}/settings`);

  // A post without the session's CSRF token changes nothing
  const forged = await page.request.post(`${DASHBOARD}/settings`, { form: { intent: 'defaults', default_plan: 'forged', late_event_grace_hours: '1' }, maxRedirects: 0 });
  expect(forged.status()).toBe(403);
  await page.reload();
  await expect(page.getByLabel('Default plan')).toHaveValue('starter');
});

test('a webhook secret is rotated from its endpoint page: the new secret is shown once and signs the next message', async ({ page, creator }) => {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  await page.goto(`${DASHBOARD}/settings`);
  const hookUrl = `${receiver.url}/hooks/rotated`;
  await page.getByLabel('Endpoint URL').fill(hookUrl);
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const first = ((await page.getByTestId('new-webhook-secret').textContent()) ?? '').trim();
  expect(first).toMatch(/^whsec_/);

  // When the creator opens the endpoint's page and rotates its secret, stopping the old one now
  await page.getByTestId('webhook-row').filter({ hasText: hookUrl }).getByRole('link', { name: /^Deliveries/ }).click();
  await page.getByLabel('The old secret').selectOption('0');
  await page.getByRole('button', { name: 'Rotate secret' }).click();

  // Then a new secret is shown, and a test event verifies with it and not with the old one
  const box = page.getByTestId('rotated-webhook-secret');
  await expect(box).toBeVisible();
  const rotated = ((await box.textContent()) ?? '').trim();
  expect(rotated).toMatch(/^whsec_/);
  expect(rotated).not.toBe(first);
  await expect(page.getByText('the old secret no longer verifies')).toBeVisible();
  receiver.setSecret(rotated);
  await page.getByRole('button', { name: 'Send test event' }).click();
  await expect(page.getByTestId('attempt-result')).toHaveText(/^Test event: HTTP 200 in \d+ ms$/);
  expect(receiver.delivered).toHaveLength(1);
  const message = receiver.delivered[0]!;
  expect(() => new Webhook(first).verify(message.rawBody, message.headers)).toThrow();

  // And it is not shown again
  await page.reload();
  await expect(box).toHaveCount(0);
});
