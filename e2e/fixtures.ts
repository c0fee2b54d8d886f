import { randomUUID } from 'node:crypto';
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

export const test = base.extend<{ creator: CreatorCredentials }>({
  // A fresh, not yet registered creator per test.
  // eslint-disable-next-line no-empty-pattern
  creator: async ({}, use, testInfo) => {
    await use(newCreator(testInfo.title));
  },
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
