import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { act, createElement as h } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createUsageClient, getUsageTracker, trackUsage, useUsageTracking } from '../../sdk/src/index';
import { UsageBar, UsageTrackingProvider, useUsage, type UsageState } from '../../sdk/src/react';
import { useTestDatabase } from '../harness/db.js';
import { installMiniDom } from './mini-dom.js';
import { useTrackerServer } from './tracker-server.js';

/**
 * Third review of @staryer/usage-sdk: what a creator's app would observe. Each test fails
 * on the code as reviewed and passes once the defect it names is fixed.
 */
const { url } = await useTestDatabase();
const { setup, server } = useTrackerServer(url);
const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const SDK = path.join(ROOT, 'sdk');

// Must run first: nothing in this file calls initUsageTracking.
describe('tracking before initUsageTracking', () => {
  it('the seed’s fire-and-forget trackAPICall (and trackUsage) before initUsageTracking is not dropped silently: the developer is told', async () => {
    expect(getUsageTracker()).toBeNull();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      // The seed's click handler, verbatim: not awaited (an init in a root effect that runs
      // after the children's, a module imported before the one that inits, or none at all)
      const { trackAPICall } = useUsageTracking();
      trackAPICall('user-123', '/api/data', 'GET');
      void trackUsage({ userId: 'user-123', eventName: 'api_calls', value: 1 });
      await new Promise((r) => setTimeout(r, 20));
      // Then the console says these events were not recorded (as it does for every other lost event)
      const said = [...warn.mock.calls, ...error.mock.calls].flat().map(String).join('\n');
      expect(said).toMatch(/initUsageTracking/);
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
  });
});

describe('decimal values', () => {
  it('tracker.checkUsage of a small value (0.0000005, 7 decimals) is answered, as trackUsage of that same value is recorded', async () => {
    const { tracker, apiKey } = await setup([{ event_name: 'gpu_hours', aggregation_type: 'sum' }]);
    const t = tracker();
    // trackUsage takes it (sent as the JSON number 5e-7, which the server reads exactly)
    await expect(t.track({ userId: 'u', eventName: 'gpu_hours', value: 0.0000005 })).resolves.toMatchObject({ user_id: 'u' });
    // checkUsage of the same value must not be refused: today it is sent as ?value=5e-7 (String(5e-7)),
    // which the query's decimal-string rule refuses with 422 validation-failed
    const check = await t.checkUsage({ userId: 'u', eventName: 'gpu_hours', value: 0.0000005 }).catch((e: unknown) => e);
    expect(check).toMatchObject({ allowed: true, used: '0.0000005' });
    // And so is the typed client's
    const viaClient = await createUsageClient({ baseURL: server().url, apiKey }).checkUsage({ userId: 'u', eventName: 'gpu_hours', value: 0.0000005 }).catch((e: unknown) => e);
    expect(viaClient).toMatchObject({ allowed: true, used: '0.0000005' });
  });
});

describe('tracker options and answers', () => {
  /** Settles within `ms`, or says it did not (instead of hanging the test until its timeout). */
  const within = <T>(promise: Promise<T>, ms = 3000) => Promise.race([promise, new Promise<'still pending'>((r) => setTimeout(() => r('still pending'), ms))]);

  it('numeric options that are NaN (a setting parsed from nothing) fall back to the defaults: events are still sent and answered', async () => {
    const { tracker } = await setup();
    // Today maxBatchSize: NaN takes no event into any batch, and timeout: NaN aborts every request at once
    const t = tracker({ maxBatchSize: Number.NaN, timeout: Number.NaN, flushInterval: Number.NaN, maxRetries: Number.NaN, retryBaseDelay: Number.NaN });
    const tracked = await within(t.track({ userId: 'u', eventName: 'calls' }).catch((e: unknown) => e));
    expect(tracked).toMatchObject({ user_id: 'u', event_name: 'calls' });
  });

  it('a malformed batch answer (null among the results) leaves no event in flight for ever: it is sent again and recorded once', async () => {
    const { tracker, call } = await setup();
    let answered = 0;
    const t = tracker({
      retryBaseDelay: 10,
      // A proxy rewrote the first answer: 200 with a null result
      fetch: async (input, init) => (answered++ === 0 ? Response.json({ results: [null] }) : fetch(input, init)),
    });
    const tracked = await within(t.track({ userId: 'u', eventName: 'calls' }).catch((e: unknown) => e));
    expect(tracked).toMatchObject({ user_id: 'u', event_name: 'calls' });
    expect(t.pending).toBe(0);
    const check = await call('GET', '/api/usage/check?user_id=u&event_name=calls');
    expect(check.json).toMatchObject({ used: '1' });
  });
});

describe('the typed client in a browser', () => {
  /** fetch as a page on https://app.example sees it: a preflight for non-simple requests, and the answer only with Access-Control-Allow-Origin. */
  const origin = 'https://app.example';
  const browserFetch: typeof fetch = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    const method = init.method ?? 'GET';
    const simple = (name: string) => ['accept', 'accept-language', 'content-language'].includes(name) || (name === 'content-type' && /^(text\/plain|application\/x-www-form-urlencoded|multipart\/form-data)/.test(headers.get(name)!));
    const unsafe = [...headers.keys()].filter((name) => !simple(name));
    const allowed = (response: Response) => [origin, '*'].includes(response.headers.get('access-control-allow-origin') ?? '');
    if (unsafe.length > 0 || !['GET', 'HEAD', 'POST'].includes(method)) {
      const preflight = await fetch(input, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': unsafe.join(',') } });
      const allowHeaders = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      if (!preflight.ok || !allowed(preflight) || !unsafe.every((name) => allowHeaders.includes(name))) throw new TypeError('Failed to fetch (CORS preflight refused)');
    }
    headers.set('origin', origin);
    const response = await fetch(input, { ...init, headers });
    if (!allowed(response)) throw new TypeError('Failed to fetch (no Access-Control-Allow-Origin)');
    return response;
  };

  it('createUsageClient({ getToken }).checkUsage works from a page on another origin, as the tracker’s checkUsage does', async () => {
    const { tracker, mint, call } = await setup();
    await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u' });
    const getToken = () => mint('u');
    // The tracker's check (GET /api/usage/check) passes the browser's CORS rules
    const t = tracker({ apiKey: undefined, getToken, fetch: browserFetch });
    await expect(t.checkUsage({ userId: 'u', eventName: 'calls' })).resolves.toMatchObject({ used: '1' });
    // The typed client's (GET /api/trpc/usage.check, which answers no preflight) does not:
    // today it rejects with UsageError network "Failed to fetch"
    const client = createUsageClient({ baseURL: server().url, getToken, fetch: browserFetch });
    const check = await client.checkUsage({ userId: 'u', eventName: 'calls' }).catch((e: unknown) => e);
    expect(check).toMatchObject({ used: '1' });
  });
});

describe('React components', () => {
  let dom: ReturnType<typeof installMiniDom>;
  const warn = vi.spyOn(console, 'warn');
  beforeAll(() => {
    dom = installMiniDom();
    (globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;
    warn.mockImplementation(() => undefined); // the loud "API key in a browser" warning
  });
  afterAll(() => {
    dom.uninstall();
    warn.mockRestore();
  });
  const waitFor = async (condition: () => boolean) => {
    for (let i = 0; i < 100 && !condition(); i++) await act(() => new Promise((r) => setTimeout(r, 50)));
    expect(condition()).toBe(true);
  };
  const mount = async (element: ReturnType<typeof h>) => {
    const container = dom.document.body.appendChild(dom.document.createElement('div'));
    let root: Root | undefined;
    await act(async () => {
      root = createRoot(container as unknown as Element);
      root.render(element);
    });
    return { container, root: root!, unmount: () => act(async () => root!.unmount()) };
  };

  it('<UsageBar> whose usage cannot be read (unknown meter, server unreachable, user not loaded) does not tell the customer "0 used · no limit"', async () => {
    const { tracker, call } = await setup([{ event_name: 'api_calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 100, hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    const t = tracker();
    let state: UsageState | undefined;
    const Probe = () => {
      state = useUsage('u', 'api-calls'); // a typo for api_calls: the check is refused
      return null;
    };
    const { container, unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(UsageBar, { userId: 'u', eventName: 'api-calls', label: 'API calls', unit: 'calls' }), h(Probe)));
    try {
      await waitFor(() => state?.error != null);
      const bar = container.findAll((n) => n.getAttribute('role') === 'progressbar')[0]!;
      // Today: "0 calls used · no limit", data-state "ok" — a customer on a 100-call hard cap is told they have no limit
      expect(bar.getAttribute('aria-valuetext')).not.toMatch(/no limit/);
      expect(container.textContent).not.toMatch(/no limit/);
      // It says the usage is unavailable instead: an error state, with no value for assistive tech
      expect(bar.getAttribute('aria-valuetext')).toMatch(/unavailable/i);
      expect(bar.getAttribute('aria-valuenow') ?? null).toBeNull();
      expect(container.findAll((n) => n.getAttribute('data-state') === 'error')).toHaveLength(1);
    } finally {
      await unmount();
    }
  });

  it('useUsage with pollInterval: Infinity (never poll) asks once, not every millisecond', async () => {
    const { tracker, call } = await setup();
    await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u' });
    let checks = 0;
    const t = tracker({ fetch: (input, init) => (String(input).includes('/api/usage/check') && checks++, fetch(input, init)) });
    let state: UsageState | undefined;
    const Probe = () => {
      state = useUsage('u', 'calls', { pollInterval: Infinity });
      return null;
    };
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined); // TimeoutOverflowWarning
    const { unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(Probe)));
    try {
      await waitFor(() => state?.used === 1);
      await act(() => new Promise((r) => setTimeout(r, 300)));
      // Today setInterval(…, Infinity) fires every 1 ms in Node (0 ms, clamped to 4, in browsers)
      expect(checks).toBeLessThanOrEqual(2);
    } finally {
      await unmount();
      warnings.mockRestore();
    }
  });

  it('useUsage keeps showing the usage it has when only pollInterval changes (no flash back to loading)', async () => {
    const { tracker, call } = await setup();
    await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u' });
    const t = tracker();
    const seen: Array<Pick<UsageState, 'used' | 'loading'>> = [];
    const Probe = ({ poll }: { poll: number }) => {
      const state = useUsage('u', 'calls', { pollInterval: poll });
      seen.push({ used: state.used, loading: state.loading });
      return null;
    };
    const { root, unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(Probe, { poll: 30_000 })));
    try {
      await waitFor(() => seen.at(-1)?.used === 1);
      const from = seen.length;
      // The page slows polling down (say, the tab went to a background section)
      await act(async () => root.render(h(UsageTrackingProvider, { tracker: t }, h(Probe, { poll: 60_000 }))));
      await act(() => new Promise((r) => setTimeout(r, 300)));
      // Every render after the change still shows 1 used (today one shows loading, used null:
      // <UsageBar> flashes "Loading…", <LimitBanner> disappears and comes back)
      expect(seen.slice(from).filter((s) => s.used !== 1)).toEqual([]);
    } finally {
      await unmount();
    }
  });
});

describe('server rendering', () => {
  it('<UsageBar used limit> renders the same HTML whatever the default locale (the server’s en-US vs. a browser’s de-DE), so hydration matches', { timeout: 30_000 }, async () => {
    const script = [
      "import { createElement as h } from 'react';",
      "import { renderToString } from 'react-dom/server';",
      `import { UsageBar } from ${JSON.stringify(path.join(SDK, 'src/react.tsx'))};`,
      "process.stdout.write(renderToString(h(UsageBar, { used: 1234, limit: 5000, label: 'API calls', unit: 'calls' })));",
    ].join('\n');
    const render = async (lang: string) =>
      (await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, LANG: lang, LC_ALL: lang } })).stdout;
    const [server, browser] = await Promise.all([render('en_US.UTF-8'), render('de_DE.UTF-8')]);
    expect(server).toContain('progressbar');
    // Today: "1,234 of 5,000 calls (25%)" on the server, "1.234 of 5.000 calls (25%)" in a German
    // browser — React reports a hydration mismatch and re-renders the tree on the client
    expect(browser).toBe(server);
  });
});

describe('the package', () => {
  it('TypeScript with moduleResolution "node" (node10, still common) finds the types of @staryer/usage-sdk/react, as it does the root’s', () => {
    const project = mkdtempSync(path.join(os.tmpdir(), 'sdk-node10-'));
    try {
      mkdirSync(path.join(project, 'node_modules/@staryer'), { recursive: true });
      symlinkSync(SDK, path.join(project, 'node_modules/@staryer/usage-sdk'), 'dir');
      const options: ts.CompilerOptions = { moduleResolution: ts.ModuleResolutionKind.Node10, module: ts.ModuleKind.CommonJS };
      const resolve = (name: string) => ts.resolveModuleName(name, path.join(project, 'index.ts'), options, ts.sys).resolvedModule?.resolvedFileName;
      expect(resolve('@staryer/usage-sdk')).toMatch(/index\.d\.ts$/);
      // Today: unresolved (TS2307 "Cannot find module '@staryer/usage-sdk/react'"): the subpath
      // lives only in "exports", which node10 resolution (and webpack 4, Jest < 28) ignores
      expect(resolve('@staryer/usage-sdk/react')).toMatch(/react\.d\.c?ts$/);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
