import { act, createElement as h, type ReactElement } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageTrackingProvider, useUsage, useUsageTracking, type UsageState } from '../../sdk/src/react';
import type { UsageTrackingApi } from '../../sdk/src/index';
import { useTestDatabase } from '../harness/db.js';
import { installMiniDom } from './mini-dom.js';
import { useTrackerServer } from './tracker-server.js';

/**
 * useUsage's `allowed` (would an event of 1 be accepted?) after the tracker commits events,
 * against the real server's GET /api/usage/check: right for a duration meter counted in ms
 * (an event of 1 is a second, 1,000 ms), and without a check after every commit of a capped
 * count plan.
 */
const { url } = await useTestDatabase();
const { setup, proxy } = useTrackerServer(url);

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

const waitFor = async (condition: () => boolean, message?: () => string) => {
  for (let i = 0; i < 60 && !condition(); i++) await act(() => new Promise((r) => setTimeout(r, 50)));
  expect(condition(), message?.()).toBe(true);
};
const mount = async (element: ReactElement) => {
  const container = dom.document.body.appendChild(dom.document.createElement('div'));
  let root: Root | undefined;
  await act(async () => {
    root = createRoot(container as unknown as Element);
    root.render(element);
  });
  return { unmount: () => act(async () => root!.unmount()) };
};
function probe(userId: string, eventName: string) {
  const seen: { state?: UsageState; tracking?: UsageTrackingApi } = {};
  const Probe = () => {
    seen.state = useUsage(userId, eventName, { pollInterval: 0 });
    seen.tracking = useUsageTracking();
    return null;
  };
  return { seen, Probe };
}
const checks = () => proxy().requests('/api/usage/check').length;

describe('useUsage `allowed` after a commit', () => {
  it('duration meter counted in ms with 500 ms left: `allowed` turns false, as the server says (an event of 1 is a second)', async () => {
    const { tracker, call } = await setup([{ event_name: 'feature_usage', aggregation_type: 'duration', unit_name: 'ms', plan_limits: [{ plan_name: 'free', limit_value: 10_000, hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    expect((await call('POST', '/api/usage/track', { event_name: 'feature_usage', user_id: 'u', value: 8 })).status).toBe(201);
    const t = tracker({ flushInterval: 0 });
    const { seen, Probe } = probe('u', 'feature_usage');
    const { unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(Probe)));
    try {
      await waitFor(() => seen.state?.used === 8000);
      expect(seen.state).toMatchObject({ allowed: true, remaining: 2000, hardCap: true });
      // The seed's trackFeatureUsage: 1.5 s in the editor leaves 500 ms
      await act(async () => {
        await expect(seen.tracking!.trackFeatureUsage('u', 'editor', 1.5)).resolves.toMatchObject({ usage: { remaining: '500' } });
      });
      const server = await t.checkUsage({ userId: 'u', eventName: 'feature_usage' });
      expect(server).toMatchObject({ allowed: false, remaining: '500' });
      // Before: allowed stayed true (500 "≥ 1") until the next poll — here, never
      await waitFor(
        () => seen.state?.allowed === false,
        () => `useUsage: ${JSON.stringify({ allowed: seen.state?.allowed, remaining: seen.state?.remaining })}`,
      );
      expect(seen.state).toMatchObject({ used: 9500, remaining: 500, hardCap: true });
      // From then on, known to be in ms: the next commit is read right at once, without asking
      await act(async () => {
        await expect(seen.tracking!.trackFeatureUsage('u', 'editor', 0.2)).resolves.toMatchObject({ usage: { remaining: '300' } });
      });
      expect(seen.state).toMatchObject({ remaining: 300, allowed: false });
    } finally {
      await unmount();
    }
  });

  it('a capped count plan with under 1,000 left stays right after each commit, asking the server once, not after every commit', async () => {
    const { tracker, call } = await setup([{ event_name: 'api_calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 1000, hard_cap: true }] }]);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    const t = tracker({ flushInterval: 0 });
    const { seen, Probe } = probe('u', 'api_calls');
    const { unmount } = await mount(h(UsageTrackingProvider, { tracker: t }, h(Probe)));
    try {
      await waitFor(() => seen.state?.remaining === 1000);
      const before = checks();
      for (let i = 1; i <= 5; i++) {
        await act(async () => {
          await seen.tracking!.trackAPICall('u', '/api/data', 'GET');
          await new Promise((r) => setTimeout(r, 150)); // past the follow-up's 100 ms
        });
        expect(seen.state).toMatchObject({ used: i, remaining: 1000 - i, allowed: true });
      }
      expect(checks() - before).toBeLessThanOrEqual(1);
    } finally {
      await unmount();
    }
  });
});
