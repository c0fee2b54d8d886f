import type { Page, Route } from '@playwright/test';
import { DASHBOARD, creatorWithKey, expect, rest, test } from './fixtures';

/**
 * The Billing page's forms while they run and after: one meter's "Create in Stripe" pending
 * leaves the others as they are, one run at a time, the keyboard focus kept after a Stripe
 * meter is created, and the write-only key field emptied after every save, not only the first.
 */

/** Holds the page's form posts until released: the pending states stay on screen to be looked at. */
async function holdPosts(page: Page) {
  const held: Route[] = [];
  await page.route(`**${DASHBOARD}/billing**`, async (route) => {
    if (route.request().method() === 'POST') held.push(route);
    else await route.continue();
  });
  return {
    waitForOne: () => expect.poll(() => held.length).toBeGreaterThan(0),
    release: async () => {
      for (const route of held.splice(0)) await route.continue();
      await page.unroute(`**${DASHBOARD}/billing**`);
    },
  };
}

test('a second key saved is cleared from the write-only field as the first was', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(`${DASHBOARD}/billing`);
  const key = page.getByLabel('Secret or restricted key');
  for (const secret of ['sk_test_firstE2eKey1234', 'sk_test_secondE2eKey5678']) {
    await key.fill(secret);
    await page.getByRole('button', { name: 'Save Stripe settings' }).click();
    await expect(page.getByRole('status')).toHaveText('Stripe settings saved.');
    await expect(key, `after saving ${secret}`).toHaveValue('');
  }
});

test('Create in Stripe: only the meter clicked says "Creating…", runs take turns, and focus stays on the page after Enter', async ({ page, creator, baseURL }) => {
  // Given a creator with a Stripe key and two meters not yet in Stripe
  const apiKey = await creatorWithKey(page, creator);
  for (const [event_name, display_name] of [
    ['api_calls', 'API calls'],
    ['storage_gb', 'Storage'],
  ]) {
    expect((await rest(baseURL!, apiKey, 'POST', '/api/usage/meters', { event_name, display_name, aggregation_type: 'count', unit_name: 'calls' })).status).toBe(201);
  }
  expect((await rest(baseURL!, apiKey, 'PUT', '/api/usage/settings/stripe', { secret_key: 'sk_test_formsE2eKey1234', report_interval_minutes: 5 })).status).toBe(200);
  await page.goto(`${DASHBOARD}/billing`);
  const rows = page.getByTestId('stripe-meter-row');
  await expect(rows).toHaveCount(2);

  // When they create the first meter in Stripe, with the keyboard, and the answer takes a while
  const posts = await holdPosts(page);
  const first = page.getByRole('button', { name: 'Create in Stripe for API calls' });
  await first.focus();
  await page.keyboard.press('Enter');
  await posts.waitForOne();

  // Then only that meter's button says "Creating…"; the other still offers "Create in Stripe"
  await expect(rows.nth(0).getByRole('button')).toHaveText('Creating…');
  await expect(rows.nth(1).getByRole('button')).toHaveText('Create in Stripe for Storage');

  // And once it is answered the notice says what was linked, and the focus is on it, not lost to the page's body
  await posts.release();
  const notice = page.getByTestId('stripe-meter-linked');
  await expect(notice).toHaveText(/^API calls now reports to Stripe meter api_calls \(mtr_[A-Za-z0-9]+\)\.$/);
  await expect(notice).toBeFocused();
  await expect(rows.nth(0)).toContainText('Reported to Stripe meter api_calls');

  // When a report runs (held) Then "Reconcile now" waits for it, and says nothing it is not doing
  const run = await holdPosts(page);
  await page.getByRole('button', { name: 'Report now' }).click();
  await run.waitForOne();
  await expect(page.getByRole('button', { name: 'Reporting…' })).toHaveAttribute('aria-disabled', 'true');
  const reconcile = page.getByRole('button', { name: 'Reconcile now' });
  await expect(reconcile).toHaveAttribute('aria-disabled', 'true');
  await reconcile.click({ force: true });
  await run.release();
  await expect(page.getByTestId('run-outcome')).toHaveText(/^Nothing to report/);
});
