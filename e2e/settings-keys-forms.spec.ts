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
