import type { Locator } from '@playwright/test';
import { creatorWithKey, DASHBOARD, expect, rest, signUpInBrowser, test } from './fixtures';

/**
 * The Settings and API keys forms after a save and while one is sent: fields show what was
 * stored (passwords gone), a confirm button says it is working, and revoking a key revoked
 * meanwhile in another tab is not answered "not found".
 */

const SETTINGS = `${DASHBOARD}/settings`;
const KEYS = `${DASHBOARD}/keys`;

test('settings: after “Password changed.” both password fields are emptied, not left holding the old and new passwords', async ({ page, creator }) => {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  await page.goto(SETTINGS);

  const form = page.getByRole('form', { name: 'Change password' });
  await form.getByLabel('Current password').fill(creator.password);
  await form.getByLabel('New password').fill('a-brand-new-password-123');
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(form.getByRole('status')).toHaveText(/^Password changed\./);

  // The change is done: a second press of the button must not re-send the (now wrong) old
  // password, and the passwords must not stay on screen.
  await expect(form.getByLabel('Current password')).toHaveValue('');
  await expect(form.getByLabel('New password')).toHaveValue('');
});

test('keys: revoking a key already revoked in another tab answers it revoked, not missing', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(KEYS);
  await page.getByLabel('Name').fill('worker');
  await page.getByRole('button', { name: 'Create key' }).click();
  await expect(page.getByTestId('new-api-key')).toBeVisible();

  // Two tabs on the API keys page
  const other = await page.context().newPage();
  await other.goto(KEYS);
  await page.goto(KEYS);

  // The key is revoked in the first tab
  const row = page.getByTestId('api-key-row').filter({ hasText: 'worker' });
  await row.locator('summary').click();
  await page.getByRole('button', { name: 'Revoke key worker' }).click();
  await expect(page.getByRole('status')).toContainText('Revoked “worker”');

  // Then again in the stale one: the key exists (the table lists it as Revoked), so the
  // answer must not claim it does not.
  const staleRow = other.getByTestId('api-key-row').filter({ hasText: 'worker' });
  await staleRow.locator('summary').click();
  await other.getByRole('button', { name: 'Revoke key worker' }).click();
  await expect(staleRow.getByText('Revoked', { exact: true })).toBeVisible();
  await expect(other.getByText('API key was not found.')).toHaveCount(0);
  await expect(other.getByRole('alert')).toHaveCount(0);
  await expect(other.getByRole('status')).toContainText(/already revoked|Revoked “worker”/);
  await other.close();
});

test('keys: the “Revoke key” confirm button shows a pending state while the revocation is sent', async ({ page, creator }) => {
  await creatorWithKey(page, creator);
  await page.goto(KEYS);
  await page.getByLabel('Name').fill('slow');
  await page.getByRole('button', { name: 'Create key' }).click();
  await expect(page.getByTestId('new-api-key')).toBeVisible();
  await page.goto(KEYS);

  // A slow network: the revocation takes 1.5 s to leave the browser
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route(`**${KEYS}*`, async (route) => {
    if (route.request().method() === 'POST') await held;
    await route.continue();
  });

  await page.getByTestId('api-key-row').filter({ hasText: 'slow' }).locator('summary').click();
  const confirm = page.getByRole('button', { name: 'Revoke key slow' });
  await confirm.click();

  // As every submit button on these pages, it says what it is doing and ignores a second click.
  try {
    const pending = page.locator('form:has(input[name="intent"][value="revoke"]) button[type="submit"][aria-disabled="true"]');
    await expect(pending, 'the confirm button is aria-disabled (e.g. “Revoking…”) while the POST is in flight').toBeVisible({ timeout: 1_000 });
  } finally {
    release();
  }
  await expect(page.getByRole('status')).toContainText('Revoked “slow”');
});

// A key named with 100 characters and no space or hyphen (the longest name the form takes,
// here of its widest letter): the name stretched its table cell, the table ran past its card
// at 1280 px and each row's Revoke button sat off screen behind a sideways scrollbar; the "new
// key" and "Revoked" notices ran out of their boxes and the page scrolled sideways. The creator
// should see every row's Revoke, the name cut to its cell with the whole name on hover.
test('keys: a 100-character name without spaces keeps the table in its card and Revoke on screen', async ({ page, creator }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await creatorWithKey(page, creator);
  const name = 'W'.repeat(100);
  await page.goto(KEYS);
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create key' }).click();
  await expect(page.getByTestId('new-api-key')).toBeVisible();
  const sideways = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  const overflow = (locator: Locator) => locator.evaluate((el) => el.scrollWidth - el.clientWidth);

  const table = page.getByRole('table', { name: 'API keys' });
  const scrollBox = table.locator('xpath=..');
  const row = page.getByTestId('api-key-row').filter({ hasText: name });
  const revoke = row.locator('summary');
  await expect(revoke).toBeVisible();
  // Without scrolling the table, Revoke is inside the card and the viewport; nothing is hidden sideways.
  const button = (await revoke.boundingBox())!;
  const box = (await scrollBox.boundingBox())!;
  expect(button.x + button.width, 'Revoke inside the card').toBeLessThanOrEqual(box.x + box.width);
  expect(button.x + button.width, 'Revoke inside the viewport').toBeLessThanOrEqual(1280);
  expect(await overflow(scrollBox), 'table width hidden sideways').toBeLessThanOrEqual(0);
  await expect(row.getByTestId('api-key-name'), 'the whole name on hover').toHaveAttribute('title', name);
  expect(await overflow(page.locator('#new-key-title')), 'the new key notice holds the name').toBeLessThanOrEqual(0);
  expect(await sideways(), 'page scrolls sideways').toBeLessThanOrEqual(0);

  // And the key can be revoked from there, the notice holding the name too.
  await revoke.click();
  await page.getByRole('button', { name: `Revoke key ${name}` }).click();
  await expect(page.getByRole('status')).toContainText(`Revoked “${name}”`);
  expect(await overflow(page.getByRole('status')), 'the Revoked notice holds the name').toBeLessThanOrEqual(0);
  expect(await sideways(), 'page scrolls sideways').toBeLessThanOrEqual(0);
});

test('settings: after “Defaults saved.” Default plan shows the saved value', async ({ page, creator, baseURL }) => {
  const apiKey = await creatorWithKey(page, creator);
  await page.goto(SETTINGS);

  await page.getByLabel('Default plan').fill('  starter  ');
  await page.getByRole('button', { name: 'Save defaults' }).click();
  await expect(page.getByRole('form', { name: 'Defaults' }).getByRole('status')).toHaveText('Defaults saved.');

  const saved = await rest(baseURL!, apiKey, 'GET', '/api/usage/settings');
  expect(saved.body).toMatchObject({ default_plan: 'starter' });
  // The success is shown beside what was saved, not beside what was typed.
  await expect(page.getByLabel('Default plan')).toHaveValue('starter');

  // Whitespace only clears the default plan: the field must then be empty, not three spaces.
  await page.getByLabel('Default plan').fill('   ');
  // The first save's notice is still on screen while this one is sent: wait for its answer.
  const answered = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === SETTINGS);
  await page.getByRole('button', { name: 'Save defaults' }).click();
  await answered;
  await expect(page.getByRole('form', { name: 'Defaults' }).getByRole('status')).toHaveText('Defaults saved.');
  await expect(page.getByLabel('Default plan')).toHaveValue('');
  expect((await rest(baseURL!, apiKey, 'GET', '/api/usage/settings')).body).toMatchObject({ default_plan: null });
});
