import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { build } from 'esbuild';
import { SEED_REACT_HOOK } from '../test/sdk/seed-examples';
import type { Page } from '@playwright/test';
import { DASHBOARD, expect, signUpInBrowser, test, type CreatorCredentials } from './fixtures';

/**
 * The SDK in real Chromium: a creator's web app (a small React page built from the
 * package's dist/ with esbuild, the seed's React example in it verbatim) tracks with a
 * short-lived user token its backend mints, and shows live usage.
 *
 * The page's server stands in for the creator's app: it serves the page, answers
 * /backend/token with a token minted by its API key (POST /api/usage/tokens), and passes
 * /api/* to Staryer Usage, so the SDK talks to the same origin as the page.
 */
const SDK_DIST = path.resolve('sdk/dist');

const PAGE_SOURCE = `
import { createRoot } from 'react-dom/client';
import { useState } from 'react';
import { UsageTrackingProvider, UsageBar, LimitBanner, useUsage } from '@staryer/usage-sdk/react';

// ---- the seed's example, verbatim ----
${SEED_REACT_HOOK}
// ---- end of the seed's example ----

const params = new URLSearchParams(location.search);

function Figures() {
  const { used, limit, remaining, loading } = useUsage('user-123', 'api_calls', { pollInterval: 1000 });
  return <p data-testid="figures">{loading ? 'loading' : used + '/' + limit + '/' + remaining}</p>;
}

function Later() {
  const { trackUsage } = useUsageTracking();
  return <button onClick={() => trackUsage({ userId: 'user-123', eventName: 'api_calls', properties: { endpoint: '/later', method: 'POST' } })}>Track later</button>;
}

function App() {
  const [errors, setErrors] = useState([]);
  return (
    <UsageTrackingProvider
      creatorId={params.get('creator')}
      baseURL={location.origin}
      apiKey={params.get('apiKey') ?? undefined}
      getToken={params.get('apiKey') ? undefined : () => fetch('/backend/token').then((r) => r.json())}
      flushInterval={Number(params.get('flush') ?? 100)}
      onError={(error) => setErrors((list) => [...list, error.name + ' ' + error.code + ' remaining=' + error.remaining])}
    >
      <main style={{ fontFamily: 'system-ui', maxWidth: 480, margin: '2rem auto', display: 'grid', gap: 16 }}>
        <LimitBanner userId="user-123" eventName="api_calls" label="API calls" upgradeUrl="/pricing" pollInterval={1000} />
        <UsageBar userId="user-123" eventName="api_calls" label="API calls" unit="calls" pollInterval={1000} />
        <MyComponent />
        <Later />
        <Figures />
        <ul data-testid="errors">{errors.map((e, i) => <li key={i}>{e}</li>)}</ul>
      </main>
    </UsageTrackingProvider>
  );
}

createRoot(document.getElementById('root')).render(<App />);
`;

async function bundlePage(): Promise<string> {
  if (!existsSync(path.join(SDK_DIST, 'index.js'))) throw new Error('sdk/dist is missing: run `npm run sdk:build` first (npm test does).');
  const result = await build({
    stdin: { contents: PAGE_SOURCE, loader: 'tsx', resolveDir: path.resolve('.') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    jsx: 'automatic',
    write: false,
    define: { 'process.env.NODE_ENV': '"production"' },
    // The package as built for npm, through its entry files.
    alias: { '@staryer/usage-sdk/react': path.join(SDK_DIST, 'react.js'), '@staryer/usage-sdk': path.join(SDK_DIST, 'index.js') },
    logLevel: 'error',
  });
  return result.outputFiles[0]!.text;
}

/** The creator's app: the page, a token endpoint holding the API key, and /api/* passed to Staryer Usage. */
async function startCreatorApp(upstream: string, apiKey: string) {
  const script = await bundlePage();
  const seenAuthorization: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><head><title>Acme</title></head><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>');
    } else if (url.pathname === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(script);
    } else if (url.pathname === '/backend/token') {
      // The creator's backend decides who the user is; here, always user-123.
      void fetch(`${upstream}/api/usage/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: 'user-123', ttl_seconds: 300 }),
      }).then(async (minted) => {
        res.writeHead(minted.status, { 'content-type': 'application/json' });
        res.end(await minted.text());
      });
    } else if (url.pathname.startsWith('/api/')) {
      if (req.headers.authorization) seenAuthorization.push(req.headers.authorization);
      const target = new URL(upstream);
      const forward = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seenAuthorization,
    // Connections the browser keeps alive (or a request it left open) would hold close()
    // until they end: end them.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function rest(baseURL: string, apiKey: string, method: string, route: string, body?: unknown) {
  const response = await fetch(new URL(route, baseURL), {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Signs the creator up in the browser and creates an admin key on the API keys page. */
async function creatorWithKey(page: Page, creator: CreatorCredentials, baseURL: string) {
  await signUpInBrowser(page, creator);
  await expect(page).toHaveURL(DASHBOARD);
  await page.goto(`${DASHBOARD}/keys`);
  await page.getByLabel('Name').fill('backend');
  await page.getByLabel('admin', { exact: true }).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const apiKey = ((await page.getByTestId('new-api-key').textContent()) ?? '').trim();
  expect(apiKey).toMatch(/^su_live_/);
  const creatorId = (await rest(baseURL, apiKey, 'GET', '/api/usage/me')).body.creator_id as string;
  return { apiKey, creatorId };
}

test('a React page tracks with a user token and shows live usage up to the hard cap', async ({ page, context, creator, baseURL }) => {
  if (!baseURL) throw new Error('baseURL is not configured');

  // Given a creator with an admin key, an api_calls meter capped at 5 on "free", and user-123 on it
  const { apiKey, creatorId } = await creatorWithKey(page, creator, baseURL);
  expect(
    (await rest(baseURL, apiKey, 'POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API Calls', unit_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 5, hard_cap: true }] })).status,
  ).toBe(201);
  expect((await rest(baseURL, apiKey, 'PUT', '/api/usage/customers/user-123', { plan_name: 'free' })).status).toBe(201);

  const app = await startCreatorApp(baseURL, apiKey);
  try {
    // When the customer opens the creator's app
    const browser = await context.newPage();
    const warnings: string[] = [];
    browser.on('console', (message) => {
      if (message.type() === 'warning') warnings.push(message.text());
    });
    await browser.goto(`${app.url}/?creator=${creatorId}`);
    const bar = browser.getByRole('progressbar', { name: 'API calls' });

    // Then the bar shows their usage, live from the server
    await expect(bar).toHaveAttribute('aria-valuenow', '0');
    await expect(bar).toHaveAttribute('aria-valuemax', '5');
    await expect(browser.getByTestId('figures')).toHaveText('0/5/5');

    // When they press the seed's "Fetch Data" button three times
    const fetchData = browser.getByRole('button', { name: 'Fetch Data' });
    for (let i = 0; i < 3; i++) await fetchData.click();

    // Then each call is tracked and the bar follows without a reload
    await expect(bar).toHaveAttribute('aria-valuenow', '3');
    await expect(bar).toHaveAttribute('aria-valuetext', '3 of 5 calls (60%)');
    await expect(browser.getByRole('status')).toHaveCount(0);

    // And at 80 % a banner warns; at the limit it turns into an alert; past it the SDK reports the 402
    await fetchData.click();
    await expect(browser.getByRole('status')).toContainText('You have used 80% of your 5 API calls this billing period.');
    await fetchData.click();
    await expect(bar).toHaveAttribute('aria-valuenow', '5');
    await expect(browser.getByRole('alert')).toContainText('You have used all 5 API calls of this billing period.');
    await expect(browser.getByRole('alert').getByRole('link', { name: 'Upgrade plan' })).toHaveAttribute('href', '/pricing');
    // Its thick left edge stays as it turns from warning to alert (React re-set the `border`
    // shorthand for the new colour, which put the left edge back to 1 px)
    expect(await browser.getByRole('alert').evaluate((el) => [getComputedStyle(el).borderLeftWidth, getComputedStyle(el).borderTopWidth])).toEqual(['4px', '1px']);
    await fetchData.click();
    await expect(browser.getByTestId('errors')).toContainText('QuotaExceededError quota-exceeded remaining=0');

    // And the server holds exactly five events, as the seed's trackAPICall shapes them
    const usage = await rest(baseURL, apiKey, 'GET', '/api/usage/customers/user-123/usage');
    expect((usage.body.meters as Array<{ used: string }>)[0]!.used).toBe('5');

    // And the browser only ever sent the short-lived token, never the key
    expect(app.seenAuthorization.length).toBeGreaterThan(0);
    expect(app.seenAuthorization.every((h) => /^Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+$/.test(h))).toBe(true);
    expect(warnings.filter((w) => w.includes('API KEY'))).toEqual([]);
    await browser.close();
  } finally {
    await app.close();
  }
});

test('events still queued when the page is left are delivered (keepalive on pagehide)', async ({ page, context, creator, baseURL }) => {
  if (!baseURL) throw new Error('baseURL is not configured');
  const { apiKey, creatorId } = await creatorWithKey(page, creator, baseURL);
  await rest(baseURL, apiKey, 'POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API Calls', unit_name: 'calls', aggregation_type: 'count' });

  const app = await startCreatorApp(baseURL, apiKey);
  try {
    // Given a page that batches for a minute
    const browser = await context.newPage();
    await browser.goto(`${app.url}/?creator=${creatorId}&flush=60000`);
    await expect(browser.getByTestId('figures')).toHaveText('0/null/null');
    // When an event is tracked and the page is left at once
    await browser.getByRole('button', { name: 'Track later' }).click();
    await browser.goto('about:blank');
    // Then the event arrives anyway
    await expect
      .poll(async () => ((await rest(baseURL, apiKey, 'GET', '/api/usage/customers/user-123/usage')).body.meters as Array<{ used: string }> | undefined)?.[0]?.used, { timeout: 10_000 })
      .toBe('1');
    await browser.close();
  } finally {
    await app.close();
  }
});

test('an API key given in a browser is refused loudly: a console warning, once', async ({ context, baseURL }) => {
  if (!baseURL) throw new Error('baseURL is not configured');
  const app = await startCreatorApp(baseURL, 'unused');
  try {
    const browser = await context.newPage();
    const warnings: string[] = [];
    browser.on('console', (message) => {
      if (message.type() === 'warning') warnings.push(message.text());
    });
    await browser.goto(`${app.url}/?creator=c&apiKey=su_live_exposed`);
    await expect(browser.getByRole('button', { name: 'Fetch Data' })).toBeVisible();
    await expect.poll(() => warnings.filter((w) => w.includes('API KEY WAS GIVEN IN A BROWSER')).length).toBe(1);
    await browser.close();
  } finally {
    await app.close();
  }
});
