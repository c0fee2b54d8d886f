import { act, createElement as h, type ReactElement } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LimitBanner, UsageBar, UsageTrackingProvider, useUsage, useUsageTracking, type UsageState } from '../../sdk/src/react';
import type { UsageTrackingApi } from '../../sdk/src/index';
import { useTestDatabase } from '../harness/db.js';
import { installMiniDom, type MiniNode } from './mini-dom.js';
import { useTrackerServer } from './tracker-server.js';

/**
 * What the SDK's React parts show an app's end user, against the real server's
 * GET /api/usage/check: figures compared exactly, views of other periods ignored, a check authoritative.
 */
const { url } = await useTestDatabase();
const { setup } = useTrackerServer(url);

let dom: ReturnType<typeof installMiniDom>;
const warn = vi.spyOn(console, 'warn');
beforeAll(() => {
  dom = installMiniDom();
  (globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;
  warn.mockImplementation(() => undefined); // "API key in a browser" warning
});
afterAll(() => {
  dom.uninstall();
  warn.mockRestore();
});

const waitFor = async (condition: () => boolean) => {
  for (let i = 0; i < 100 && !condition(); i++) await act(() => new Promise((r) => setTimeout(r, 50)));
  expect(condition()).toBe(true);
};
const mount = async (element: ReactElement) => {
  const container = dom.document.body.appendChild(dom.document.createElement('div'));
  let root: Root | undefined;
  await act(async () => {
    root = createRoot(container as unknown as Element);
    root.render(element);
  });
  return { container, unmount: () => act(async () => root!.unmount()) };
};
const banners = (container: MiniNode) =>
  container.findAll((n) => n.getAttribute('role') === 'alert' || n.getAttribute('role') === 'status').map((n) => ({ role: n.getAttribute('role'), text: n.textContent }));

/** A probe that exposes useUsage's state and the provider's tracking functions. */
function probe(userId: string, eventName: string, pollInterval = 0) {
  const seen: { state?: UsageState; tracking?: UsageTrackingApi } = {};
  const Probe = () => {
    seen.state = useUsage(userId, eventName, { pollInterval });
    seen.tracking = useUsageTracking();
    return null;
  };
  return { seen, Probe };
}

describe('<LimitBanner> / <UsageBar> figures', () => {
  it('at exactly the threshold (8.1 of a 10.125 GB limit = 80%) the banner warns and the bar is amber', async () => {
    const { tracker, call } = await setup([{ event_name: 'storage_gb', aggregation_type: 'sum', unit_name: 'GB', plan_limits: [{ plan_name: 'free', limit_value: '10.125' }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    expect((await call('POST', '/api/usage/track', { event_name: 'storage_gb', user_id: 'u', value: '8.1' })).status).toBe(201);
    const t = tracker();
    const check = await t.checkUsage({ userId: 'u', eventName: 'storage_gb' });
    expect(check).toMatchObject({ used: '8.1', limit: '10.125' }); // 8.1 / 10.125 = 0.8 exactly
    const { seen, Probe } = probe('u', 'storage_gb');
    const { container, unmount } = await mount(
      h(UsageTrackingProvider, { tracker: t }, h(LimitBanner, { userId: 'u', eventName: 'storage_gb', label: 'GB of storage', pollInterval: 0 }), h(UsageBar, { userId: 'u', eventName: 'storage_gb', unit: 'GB', pollInterval: 0 }), h(Probe)),
    );
    try {
      await waitFor(() => seen.state?.used === 8.1);
      // README: "<LimitBanner> shows nothing below threshold (0.8) …, a role="status" warning from there"
      expect(banners(container)).toEqual([{ role: 'status', text: expect.stringContaining('80%') }]);
      expect(container.findAll((n) => n.getAttribute('data-state') === 'warning')).toHaveLength(2);
    } finally {
      await unmount();
    }
  });

  it('the warning states the share used correctly (8.7 of 10 hours is 87%, not 86%)', async () => {
    const { tracker, call } = await setup([{ event_name: 'gpu_hours', aggregation_type: 'sum', unit_name: 'hours', plan_limits: [{ plan_name: 'free', limit_value: '10' }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    expect((await call('POST', '/api/usage/track', { event_name: 'gpu_hours', user_id: 'u', value: '8.7' })).status).toBe(201);
    const t = tracker();
    const { seen, Probe } = probe('u', 'gpu_hours');
    const { container, unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(LimitBanner, { userId: 'u', eventName: 'gpu_hours', label: 'GPU hours', pollInterval: 0 }), h(Probe)));
    try {
      await waitFor(() => seen.state?.used === 8.7);
      expect(banners(container)).toEqual([{ role: 'status', text: 'You have used 87% of your 10 GPU hours this billing period.' }]);
    } finally {
      await unmount();
    }
  });

  it('a hard-capped 10.125 GB plan with 0.5 GB left is not announced as "used all" (role=alert): it is a 95% warning', async () => {
    const { tracker, call } = await setup([{ event_name: 'storage_gb', aggregation_type: 'sum', unit_name: 'GB', plan_limits: [{ plan_name: 'free', limit_value: '10.125', hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    expect((await call('POST', '/api/usage/track', { event_name: 'storage_gb', user_id: 'u', value: '9.625' })).status).toBe(201);
    const t = tracker();
    // 0.5 GB can still be stored: the server takes an event of 0.5
    await expect(t.checkUsage({ userId: 'u', eventName: 'storage_gb', value: '0.5' })).resolves.toMatchObject({ allowed: true, remaining: '0.5' });
    const { seen, Probe } = probe('u', 'storage_gb');
    const { container, unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(LimitBanner, { userId: 'u', eventName: 'storage_gb', label: 'GB', pollInterval: 0 }), h(Probe)));
    try {
      await waitFor(() => seen.state?.used === 9.625);
      // Today: [{ role: 'alert', text: 'You have used all 10.125 GB of this billing period. …' }]
      expect(banners(container)).toEqual([{ role: 'status', text: expect.stringContaining('95%') }]);
    } finally {
      await unmount();
    }
  });
});

describe('useUsage after the tracker commits an event', () => {
  it('duration meter in hours: after trackFeatureUsage, `allowed` still agrees with the server (0.48 h left is 1,740 more seconds)', async () => {
    const { tracker, call } = await setup([{ event_name: 'feature_usage', aggregation_type: 'duration', unit_name: 'hours', plan_limits: [{ plan_name: 'free', limit_value: 10, hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    expect((await call('POST', '/api/usage/track', { event_name: 'feature_usage', user_id: 'u', value: 9.5 * 3600 })).status).toBe(201);
    const t = tracker({ flushInterval: 0 });
    const { seen, Probe } = probe('u', 'feature_usage');
    const { container, unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(LimitBanner, { userId: 'u', eventName: 'feature_usage', label: 'editor hours', pollInterval: 0 }), h(Probe)));
    try {
      await waitFor(() => seen.state?.used === 9.5);
      expect(seen.state).toMatchObject({ allowed: true, hardCap: true });
      // The seed's trackFeatureUsage: one minute in the editor
      await act(async () => {
        await expect(seen.tracking!.trackFeatureUsage('u', 'editor', 60)).resolves.toMatchObject({ usage: { remaining: '0.483333333' } });
      });
      const server = await t.checkUsage({ userId: 'u', eventName: 'feature_usage' });
      expect(server).toMatchObject({ allowed: true, remaining: '0.483333333' });
      // Today: allowed false (remaining in hours compared with "1"), and the banner claims the quota is used up
      expect({ allowed: seen.state!.allowed, remaining: seen.state!.remaining }).toEqual({ allowed: server.allowed, remaining: 0.483333333 });
      expect(banners(container).map((b) => b.role)).toEqual(['status']);
    } finally {
      await unmount();
    }
  });
});

describe('useUsage when the server’s figures change while mounted', () => {
  it('a late event (last period) refused for last period’s cap does not show as this period’s usage, and the server’s answer wins again', async () => {
    const { tracker, call } = await setup([{ event_name: 'api_calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 2, hard_cap: true }] }]);
    // The customer's period started an hour ago (billing anchor); the last one closed then, within the 24 h grace
    const now = Date.now();
    const anchor = new Date(now - 3600_000).toISOString();
    expect((await call('PUT', '/api/usage/customers/u', { plan_name: 'free', billing_anchor: anchor })).status).toBe(201);
    const lastPeriod = new Date(now - 2 * 3600_000).toISOString();
    // Last period: the cap of 2 was reached. This period: 1 call.
    const batch = await call('POST', '/api/usage/track', [
      { event_name: 'api_calls', user_id: 'u', timestamp: lastPeriod },
      { event_name: 'api_calls', user_id: 'u', timestamp: lastPeriod },
      { event_name: 'api_calls', user_id: 'u' },
    ]);
    expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual([201, 201, 201]);
    const t = tracker({ flushInterval: 0 });
    const { seen, Probe } = probe('u', 'api_calls');
    const { container, unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(LimitBanner, { userId: 'u', eventName: 'api_calls', label: 'API calls', pollInterval: 0 }), h(Probe)));
    try {
      await waitFor(() => seen.state?.used === 1);
      const before = { used: seen.state!.used, remaining: seen.state!.remaining, allowed: seen.state!.allowed, periodEnd: seen.state!.periodEnd };
      expect(before).toMatchObject({ used: 1, remaining: 1, allowed: true });
      // A late event for last period (an offline client syncing) is refused for last period's cap
      await act(async () => {
        await expect(seen.tracking!.trackUsage({ userId: 'u', eventName: 'api_calls', timestamp: lastPeriod })).rejects.toMatchObject({ code: 'quota-exceeded', used: '2', remaining: '0' });
      });
      await act(async () => seen.state!.refresh());
      // This period is unchanged: 1 of 2 used, 1 left, allowed; no "you have used all" banner
      await expect(t.checkUsage({ userId: 'u', eventName: 'api_calls' })).resolves.toMatchObject({ used: '1', remaining: '1', allowed: true });
      expect({ used: seen.state!.used, remaining: seen.state!.remaining, allowed: seen.state!.allowed, periodEnd: seen.state!.periodEnd }).toEqual(before);
      expect(banners(container)).toEqual([]);
    } finally {
      await unmount();
    }
  });

  it('a meter archived and created again (usage from zero, new limit) shows its new figures once asked again', async () => {
    const { tracker, call } = await setup([{ event_name: 'api_calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 10, hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    for (let i = 0; i < 9; i++) expect((await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'u' })).status).toBe(201);
    const t = tracker();
    const { seen, Probe } = probe('u', 'api_calls');
    const { container, unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(LimitBanner, { userId: 'u', eventName: 'api_calls', label: 'API calls', pollInterval: 0 }), h(Probe)));
    try {
      await waitFor(() => seen.state?.used === 9);
      expect(banners(container).map((b) => b.role)).toEqual(['status']);
      // The creator archives the meter and creates it again with a limit of 1,000 (README: counts from zero under its own limits)
      const meters = await call('GET', '/api/usage/meters');
      const id = (meters.json.meters ?? meters.json.data ?? meters.json).find((m: { event_name: string }) => m.event_name === 'api_calls').id;
      expect((await call('DELETE', `/api/usage/meters/${id}`)).status).toBeLessThan(300);
      const created = await call('POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API', unit_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 1000, hard_cap: true }] });
      expect(created.status).toBe(201);
      await expect(t.checkUsage({ userId: 'u', eventName: 'api_calls' })).resolves.toMatchObject({ used: '0', limit: '1000', remaining: '1000' });
      // The page asks again (a poll, or refresh())
      await act(async () => seen.state!.refresh());
      // Today: still { used: 9, limit: 10, remaining: 1 } and the 90% banner, for as long as the page stays open
      expect({ used: seen.state!.used, limit: seen.state!.limit, remaining: seen.state!.remaining }).toEqual({ used: 0, limit: 1000, remaining: 1000 });
      expect(banners(container)).toEqual([]);
    } finally {
      await unmount();
    }
  });
});

describe('useUsage after a commit that leaves `allowed` unknown', () => {
  it('max meter at its limit: an event of 1 still fits (it raises no maximum), and the view says so once the server is asked', async () => {
    const { tracker, call } = await setup([{ event_name: 'seats', aggregation_type: 'max', plan_limits: [{ plan_name: 'free', limit_value: 10, hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'u', value: 5 })).status).toBe(201);
    const t = tracker({ flushInterval: 0 });
    const { seen, Probe } = probe('u', 'seats');
    const { unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(Probe)));
    try {
      await waitFor(() => seen.state?.used === 5);
      // The maximum reaches the limit: nothing is left, yet the server takes an event of 1
      await act(async () => {
        await expect(seen.tracking!.trackUsage({ userId: 'u', eventName: 'seats', value: 10 })).resolves.toMatchObject({ usage: { used: '10', remaining: '0' } });
      });
      await expect(t.checkUsage({ userId: 'u', eventName: 'seats' })).resolves.toMatchObject({ allowed: true, remaining: '0' });
      await waitFor(() => seen.state?.allowed === true);
      expect(seen.state).toMatchObject({ used: 10, remaining: 0, hardCap: true });
    } finally {
      await unmount();
    }
  });
});
