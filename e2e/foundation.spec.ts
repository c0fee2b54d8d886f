import {
  DASHBOARD,
  anonymousCsrf,
  apiGet,
  expect,
  logInInBrowser,
  newCreator,
  postSignupForm,
  signUpInBrowser,
  signUpOverHttp,
  test,
} from './fixtures';

const SECTIONS = ['Overview', 'Trends', 'Top users', 'Revenue', 'Meters', 'Alerts', 'Reports', 'Billing', 'API keys', 'Settings'];

test('a creator signs up, logs out and in, creates an admin API key, uses it and revokes it', async ({ page, creator, baseURL }) => {
  if (!baseURL) throw new Error('baseURL is not configured');

  // Given a new creator signing up in the browser
  await signUpInBrowser(page, creator);

  // Then they land on the dashboard's empty state, with the navigation and their account
  await expect(page).toHaveURL(DASHBOARD);
  const nav = page.getByRole('navigation', { name: 'Dashboard' });
  for (const section of SECTIONS) await expect(nav.getByRole('link', { name: section, exact: true })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'No usage yet — three steps to your first event' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Step 1: Create a meter' })).toBeVisible();
  await expect(page.getByTestId('track-command')).toContainText(`curl -X POST ${baseURL}/api/usage/track`);
  await expect(page.getByTestId('creator-name')).toHaveText(creator.name);
  await expect(page.getByTestId('creator-email')).toHaveText(creator.email);

  // When they log out, the dashboard is closed to them
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL('/login');
  await page.goto(DASHBOARD);
  await expect(page).toHaveURL(`/login?next=${encodeURIComponent(DASHBOARD)}`);

  // And when they log in again, they are back
  await page.getByLabel('Email').fill(creator.email);
  await page.getByLabel('Password').fill(creator.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(DASHBOARD);

  // When they create an admin key on the API keys page
  await nav.getByRole('link', { name: 'API keys' }).click();
  await expect(page).toHaveURL(`${DASHBOARD}/keys`);
  await expect(page.getByTestId('no-keys')).toBeVisible();
  await page.getByLabel('Name').fill('E2E admin key');
  await page.getByLabel('admin', { exact: true }).check();
  await page.getByRole('button', { name: 'Create key' }).click();

  // Then the secret is shown once, and the key is listed as active
  const secretBox = page.getByTestId('new-api-key');
  await expect(secretBox).toBeVisible();
  await expect(page.getByText('It will not be shown again')).toBeVisible();
  const apiKey = (await secretBox.textContent()) ?? '';
  expect(apiKey).toMatch(/^su_live_[0-9A-Za-z]{36}$/);
  const row = page.getByTestId('api-key-row').filter({ hasText: 'E2E admin key' });
  await expect(row).toContainText('Active');
  await expect(row).toContainText('admin');

  // And the key works against the HTTP API
  expect(await apiGet(baseURL, '/api/health', apiKey)).toEqual({ status: 200, body: { status: 'ok' } });
  const me = await apiGet(baseURL, '/api/usage/me', apiKey);
  expect(me.status).toBe(200);
  expect(me.body).toMatchObject({ email: creator.email, name: creator.name, auth: 'api_key' });
  const prefix = (me.body as { key: { prefix: string } }).key.prefix;
  expect(apiKey.startsWith(prefix)).toBe(true);
  await expect(row).toHaveAttribute('data-prefix', prefix);
  const keys = await apiGet(baseURL, '/api/usage/keys', apiKey);
  expect(keys.status).toBe(200);
  expect((keys.body as { keys: Array<{ prefix: string }> }).keys.map((key) => key.prefix)).toContain(prefix);

  // When they revoke it (a second click confirms)
  await row.locator('summary').click();
  await row.getByRole('button', { name: 'Revoke key E2E admin key' }).click();

  // Then the page says so, the secret is gone, and the key no longer authenticates
  await expect(page.getByRole('status')).toContainText('Revoked “E2E admin key”');
  await expect(row).toContainText('Revoked');
  await expect(page.getByTestId('new-api-key')).toHaveCount(0);
  const afterRevoke = await apiGet(baseURL, '/api/usage/me', apiKey);
  expect(afterRevoke.status).toBe(401);
});

test.describe('sign-up and log-in forms', () => {
  test('bad sign-up input shows a message beside each field', async ({ page, creator }) => {
    await signUpInBrowser(page, { ...creator, email: 'not-an-email', password: 'short' });

    await expect(page).toHaveURL('/signup');
    await expect(page.getByRole('alert')).toHaveText('Please correct the highlighted fields.');
    await expect(page.getByText('Email must be a valid email address')).toBeVisible();
    await expect(page.getByText('Password must be at least 10 characters')).toBeVisible();
    await expect(page.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByLabel('Password')).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByLabel('Name')).not.toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByLabel('Email')).toHaveValue('not-an-email');
  });

  test('a duplicate email shows the server’s message', async ({ page, request, creator }) => {
    await signUpOverHttp(request, creator);

    await signUpInBrowser(page, { ...creator, name: 'Someone else' });

    await expect(page).toHaveURL('/signup');
    await expect(page.locator('#field-email-error')).toHaveText('An account with this email already exists. Log in instead.');
  });

  test('the dashboard sends a logged-out visitor to log in, and back afterwards', async ({ page, request, creator }) => {
    await signUpOverHttp(request, creator);

    await page.goto(`${DASHBOARD}/keys`);
    await expect(page).toHaveURL(`/login?next=${encodeURIComponent(`${DASHBOARD}/keys`)}`);

    await page.getByLabel('Email').fill(creator.email);
    await page.getByLabel('Password').fill('wrong password!');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert')).toHaveText('Email or password is incorrect.');

    await page.getByLabel('Password').fill(creator.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(`${DASHBOARD}/keys`);
  });

  test('log-in ignores a `next` that leaves the site', async ({ page, request, creator }) => {
    await signUpOverHttp(request, creator);

    await logInInBrowser(page, creator, `/login?next=${encodeURIComponent('//evil.example/phish')}`);

    await expect(page).toHaveURL(DASHBOARD);
    // Logged in already, a link to the log-in page sends straight on: still only on this site,
    // even when dot segments would collapse into "//host".
    for (const next of ['/.//evil.example/phish', '/%2e%2e//evil.example/phish']) {
      const answer = await page.request.get(`/login?next=${next}`, { maxRedirects: 0 });
      expect(answer.status()).toBe(302);
      expect(answer.headers().location).toBe(DASHBOARD);
    }
  });

  test('too many sign-up attempts answer 429 with Retry-After and say when to retry', async ({ playwright, baseURL, request }) => {
    const creator = newCreator('rate limited');
    // Registered from another client: a logged-in client would be sent to the dashboard.
    const other = await playwright.request.newContext({ baseURL });
    await signUpOverHttp(other, creator);
    await other.dispose();
    const csrf = await anonymousCsrf(request, '/signup');
    // The e2e server allows 5 attempts per email per window (AUTH_RATE_LIMIT_PER_EMAIL).
    let response = await postSignupForm(request, creator, csrf);
    for (let attempt = 0; attempt < 10 && response.status() !== 429; attempt++) {
      expect(response.status()).toBe(409);
      response = await postSignupForm(request, creator, csrf);
    }

    expect(response.status()).toBe(429);
    expect(Number(response.headers()['retry-after'])).toBeGreaterThan(0);
    expect(await response.text()).toMatch(/Too many attempts, try again in \d+ seconds\./);
  });

  test('a form post without the CSRF token changes nothing', async ({ request, creator }) => {
    await anonymousCsrf(request, '/signup'); // sets the cookie, but the form omits the token

    const response = await request.post('/signup', { form: { email: creator.email, name: creator.name, password: creator.password }, maxRedirects: 0 });

    expect(response.status()).toBe(403);
    const login = await request.post('/login', {
      form: { csrf: await anonymousCsrf(request, '/login'), email: creator.email, password: creator.password },
      maxRedirects: 0,
    });
    expect(login.status()).toBe(401);
  });
});

test('logging out takes a POST with the session’s CSRF token', async ({ page, creator }) => {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);

  // A link (GET) or a forged form (wrong token) leaves the session alone.
  await page.goto('/logout');
  await expect(page).toHaveURL(DASHBOARD);
  const forged = await page.request.post('/logout', { form: { csrf: 'not-the-token' }, maxRedirects: 0 });
  expect(forged.status()).toBe(403);
  await page.reload();
  await expect(page.getByTestId('creator-email')).toHaveText(creator.email);

  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL('/login');
  const cookies = await page.context().cookies();
  expect(cookies.find((cookie) => cookie.name === 'staryer_session')).toBeUndefined();
});
