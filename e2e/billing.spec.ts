import type { Page } from '@playwright/test';
import { DASHBOARD, expect, signUpInBrowser, test, type CreatorCredentials } from './fixtures';

/**
 * The Billing page, end to end: a new creator sees what is needed before anything reaches
 * Stripe, a refused setting keeps what they typed, a key is saved and shown as configured
 * (the key never again), and a Connect account comes through Stripe's authorization page (the
 * local fake's). No meter event reaches Stripe: nothing is linked.
 */

async function openBilling(page: Page, creator: CreatorCredentials) {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Billing' }).click();
  await expect(page).toHaveURL(`${DASHBOARD}/billing`);
  await expect(page.getByRole('heading', { name: 'Billing', level: 1 })).toBeVisible();
}

test('a new creator sees the empty billing health, a refused interval, and saves a secret key that is never shown again', async ({ page, creator }) => {
  // Given a new creator on the Billing page
  await openBilling(page, creator);

  // Then Stripe is not connected, reports run every 5 minutes, and the health panel explains how to link meters and customers
  await expect(page.getByTestId('stripe-configured')).toHaveText('Not connected: no key or Connect account yet');
  await expect(page.getByTestId('stripe-interval')).toHaveText('Every 5 minutes');
  const empty = page.getByTestId('billing-empty');
  await expect(empty).toContainText('Nothing has been reported to Stripe yet.');
  await expect(empty).toContainText('stripe_meter_event_name');
  await expect(empty).toContainText('stripe_customer_id');
  await expect(page.getByTestId('billing-row')).toHaveCount(0);
  // And the meters section says there is nothing to link yet
  await expect(page.getByRole('region', { name: 'Meters in Stripe' })).toContainText('No meters yet.');
  // And with no Stripe key yet, Report now and Reconcile now are held, saying why (they answered a 409 naming an API call)
  for (const name of ['Report now', 'Reconcile now']) {
    await expect(page.getByRole('button', { name })).toBeDisabled();
    await expect(page.getByRole('button', { name })).toHaveAccessibleDescription('Save a Stripe key or connect an account above first.');
  }

  // When they save an interval of 0 minutes
  const interval = page.getByLabel('Report interval (minutes)');
  const key = page.getByLabel('Secret or restricted key');
  await interval.fill('0');
  await page.getByRole('button', { name: 'Save Stripe settings' }).click();

  // Then the interval is refused beside the field, which keeps what they typed, and nothing is saved
  await expect(page.getByRole('alert')).toHaveText('Please correct the highlighted fields.');
  await expect(interval).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#field-report_interval_minutes-error')).toBeVisible();
  await expect(interval).toHaveValue('0');
  await expect(page.getByTestId('stripe-interval')).toHaveText('Every 5 minutes');

  // When they enter a secret key and a valid interval
  const secret = 'sk_test_e2eSecretKey1234';
  await expect(key).toHaveAttribute('type', 'password');
  await key.fill(secret);
  await interval.fill('15');
  await page.getByRole('button', { name: 'Save Stripe settings' }).click();

  // Then the key is shown as set — never the key itself — with the new interval
  await expect(page.getByRole('status')).toHaveText('Stripe settings saved.');
  await expect(page.getByTestId('stripe-configured')).toContainText('Your secret key is set');
  await expect(page.getByTestId('stripe-interval')).toHaveText('Every 15 minutes');
  await expect(interval).not.toHaveAttribute('aria-invalid');
  await expect(key).toHaveValue('');
  await page.reload();
  await expect(page.getByTestId('stripe-configured')).toContainText('Your secret key is set');
  await expect(interval).toHaveValue('15');
  expect(await page.content()).not.toContain(secret);

  // And "Report now" and "Reconcile now" answer, with nothing linked to Stripe yet
  await page.getByRole('button', { name: 'Report now' }).click();
  await expect(page.getByTestId('run-outcome')).toHaveText(/^Nothing to report/);
  await page.getByRole('button', { name: 'Reconcile now' }).click();
  await expect(page.getByTestId('run-outcome')).toHaveText(/^Nothing to reconcile/);
  await expect(page.getByTestId('billing-empty')).toBeVisible();
});

test('a Stripe account is connected through Stripe’s authorization page, and a declined one is not', async ({ page, creator }) => {
  // Given a new creator on the Billing page (the e2e server's Stripe is the local fake, its authorize page included)
  await openBilling(page, creator);
  await expect(page.getByLabel('Or a Connect account id')).toHaveCount(0);

  // When they connect, and decline on Stripe's page
  await page.getByRole('button', { name: 'Connect with Stripe' }).click();
  await expect(page.getByRole('heading', { name: 'Connect your Stripe account' })).toBeVisible();
  await page.getByRole('button', { name: 'Decline' }).click();

  // Then they are back on the Billing page, told so, and nothing is connected
  await expect(page).toHaveURL(new RegExp(`${DASHBOARD}/billing\\?connect_error=`));
  await expect(page.getByRole('alert')).toContainText('The Stripe account was not connected: The user denied your request');
  await expect(page.getByTestId('stripe-configured')).toHaveText('Not connected: no key or Connect account yet');

  // When they connect again and the account's owner authorizes access (an account no other creator of this server has connected)
  const account = `acct_1E2e${Date.now().toString(36)}`;
  await page.getByRole('button', { name: 'Connect with Stripe' }).click();
  await expect(page.getByRole('heading', { name: 'Connect your Stripe account' })).toBeVisible();
  await page.getByLabel('Stripe account', { exact: true }).fill(account);
  await page.getByRole('button', { name: 'Authorize access' }).click();

  // Then that account is connected, after a reload too
  await expect(page).toHaveURL(new RegExp(`${DASHBOARD}/billing\\?connected=1`));
  await expect(page.getByRole('status')).toHaveText(`Stripe account ${account} connected.`);
  await expect(page.getByTestId('stripe-configured')).toContainText(`Connect account ${account}`);
  await page.reload();
  await expect(page.getByTestId('stripe-configured')).toContainText(`Connect account ${account}`);
  await expect(page.getByRole('button', { name: 'Connect another Stripe account' })).toBeVisible();

  // And a forged redirect (no authorization in progress) connects nothing
  await page.goto(`${DASHBOARD}/billing/connect?code=ac_forged&state=whatever`);
  await expect(page.getByRole('alert')).toContainText('The Stripe account was not connected');
  await expect(page.getByTestId('stripe-configured')).toContainText(`Connect account ${account}`);
});
