import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { test as base, expect, type APIRequestContext, type Page } from '@playwright/test';

export { expect };

export const DASHBOARD = '/creator/dashboard/usage';

export type CreatorCredentials = { email: string; name: string; password: string };

/**
 * An email no other test (or earlier run against the same database) uses, so that each
 * test owns its creator. The run's database is removed when the server stops.
 */
export function uniqueEmail(label = 'creator'): string {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 30) || 'creator';
  return `${slug}-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}@example.com`;
}

export function newCreator(label?: string): CreatorCredentials {
  return { email: uniqueEmail(label), name: `E2E ${label ?? 'Creator'}`, password: `pw-${randomUUID()}` };
}

export const test = base.extend<{ creator: CreatorCredentials; pageErrors: string[] }>({
  // A fresh, not yet registered creator per test.
  // eslint-disable-next-line no-empty-pattern
  creator: async ({}, use, testInfo) => {
    await use(newCreator(testInfo.title));
  },
  // Every journey fails on an uncaught error in the page (a hydration mismatch makes React
  // throw away the server's HTML and render again: a flash, and typing lost).
  pageErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await use(errors);
      expect(errors, 'uncaught errors in the page').toEqual([]);
    },
    { auto: true },
  ],
});

export async function signUpInBrowser(page: Page, creator: CreatorCredentials): Promise<void> {
  await page.goto('/signup');
  await page.getByLabel('Email').fill(creator.email);
  await page.getByLabel('Name').fill(creator.name);
  await page.getByLabel('Password').fill(creator.password);
  await page.getByRole('button', { name: 'Create account' }).click();
}

export async function logInInBrowser(page: Page, creator: Pick<CreatorCredentials, 'email' | 'password'>, path = '/login'): Promise<void> {
  await page.goto(path);
  await page.getByLabel('Email').fill(creator.email);
  await page.getByLabel('Password').fill(creator.password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** The CSRF token of an anonymous form page; the request context keeps its cookie. */
export async function anonymousCsrf(request: APIRequestContext, path: '/signup' | '/login'): Promise<string> {
  const page = await request.get(path);
  expect(page.status()).toBe(200);
  const token = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  if (!token) throw new Error(`no CSRF field on ${path}`);
  return token;
}

/** Posts the sign-up form as a browser without JavaScript would; answers the raw response. */
export async function postSignupForm(request: APIRequestContext, creator: CreatorCredentials, csrf?: string) {
  return request.post('/signup', {
    form: { csrf: csrf ?? (await anonymousCsrf(request, '/signup')), email: creator.email, name: creator.name, password: creator.password },
    maxRedirects: 0,
  });
}

/** Registers a creator over HTTP (for tests that need one to exist already). */
export async function signUpOverHttp(request: APIRequestContext, creator: CreatorCredentials): Promise<void> {
  const response = await postSignupForm(request, creator);
  expect(response.status(), await response.text()).toBe(302);
  expect(response.headers().location).toBe(DASHBOARD);
}

/** Calls the HTTP API from Node with an API key, as a creator's backend would. */
export async function apiGet(baseURL: string, path: string, apiKey: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(new URL(path, baseURL), { headers: { Authorization: `Bearer ${apiKey}` } });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : null };
}

/** The HTTP API from Node with an API key, as a creator's backend calls it. */
export async function rest(baseURL: string, apiKey: string, method: string, route: string, body?: unknown) {
  const response = await fetch(new URL(route, baseURL), {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown>, text };
}

/** Creates an admin key on the API keys page; answers its secret (shown once). */
export async function createAdminKeyInBrowser(page: Page, name = 'backend'): Promise<string> {
  await page.goto(`${DASHBOARD}/keys`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('admin', { exact: true }).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const apiKey = ((await page.getByTestId('new-api-key').textContent()) ?? '').trim();
  expect(apiKey).toMatch(/^su_live_/);
  return apiKey;
}

/** Signs the creator up in the browser and creates an admin key on the API keys page. */
export async function creatorWithKey(page: Page, creator: CreatorCredentials): Promise<string> {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  return createAdminKeyInBrowser(page);
}

export const SCREENSHOTS = 'e2e/screenshots';

/** The whole page at 1280 px (`<name>.png`), and again at a 390 px phone width (`<name>-390.png`). */
export async function screenshots(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}-390.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}
