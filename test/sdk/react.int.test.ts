import { act, createElement as h } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterAll, describe, expect, it } from 'vitest';
import { LimitBanner, UsageTrackingProvider, useUsage, useUsageTracking, type UsageState } from '../../sdk/src/react';
import { UsageTracker, useUsageTracking as useUsageTrackingRoot, type UsageTrackingApi } from '../../sdk/src/index';
import { useTestDatabase } from '../harness/db.js';
import { api, createCreatorWithKey } from '../harness/fixtures.js';
import { useTestServer } from '../harness/server.js';
import { installMiniDom } from './mini-dom.js';

/** The React components against the real server, rendered by react-dom into a minimal DOM. */
const dom = installMiniDom();
(globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;
const { url } = await useTestDatabase();
const testServer = useTestServer(url);
afterAll(async () => {
  dom.uninstall();
});

const waitFor = async (condition: () => boolean) => {
  for (let i = 0; i < 100 && !condition(); i++) await act(() => new Promise((r) => setTimeout(r, 50)));
  expect(condition()).toBe(true);
};

describe('the root entry’s useUsageTracking outside a render', () => {
  it('stays the React-free default-tracker API once react-dom has rendered (a click handler, a fetch wrapper)', async () => {
    const container = dom.document.body.appendChild(dom.document.createElement('div'));
    let root: Root | undefined;
    await act(async () => {
      root = createRoot(container as unknown as Element);
      root.render(h('div', null, 'rendered'));
    });
    try {
      // Before the fix: react-dom leaves its between-renders dispatcher set (not null), which was
      // taken for a render, so the hook path ran and threw "Invalid hook call" — the event never tracked.
      const api = useUsageTrackingRoot();
      expect(typeof api.trackUsage).toBe('function');
      expect(typeof api.trackAPICall).toBe('function');
    } finally {
      await act(async () => root?.unmount());
    }
  });
});

describe('useUsage and <LimitBanner>', () => {
  it('a refused event larger than what is left does not make them claim the quota used up; reaching the limit does', async () => {
    // Given a hard-capped sum meter of 1,000 tokens with 500 used
    const { apiKey, creator } = await createCreatorWithKey(testServer().rt);
    const call = api(testServer().url, apiKey);
    const meter = { event_name: 'tokens', display_name: 'Tokens', unit_name: 'tokens', aggregation_type: 'sum', plan_limits: [{ plan_name: 'free', limit_value: 1000, hard_cap: true }] };
    expect((await call('POST', '/api/usage/meters', meter)).status).toBe(201);
    await call('PUT', '/api/usage/customers/u', { plan_name: 'free' });
    expect((await call('POST', '/api/usage/track', { event_name: 'tokens', user_id: 'u', value: 500 })).status).toBe(201);
    const mint = async () => (await call('POST', '/api/usage/tokens', { user_id: 'u', ttl_seconds: 600 })).json as { token: string; expires_at: string };

    let state: UsageState | undefined;
    let tracking: UsageTrackingApi | undefined;
    const Probe = () => {
      state = useUsage('u', 'tokens');
      tracking = useUsageTracking();
      return null;
    };
    const container = dom.document.body.appendChild(dom.document.createElement('div'));
    let root: Root | undefined;
    await act(async () => {
      root = createRoot(container as unknown as Element);
      root.render(h(UsageTrackingProvider, { creatorId: creator.id, baseURL: testServer().url, getToken: mint, onError: () => undefined }, h(LimitBanner, { userId: 'u', eventName: 'tokens', label: 'tokens' }), h(Probe)));
    });
    const banner = () => container.findAll((n) => n.getAttribute('role') === 'alert' || n.getAttribute('role') === 'status');
    try {
      await waitFor(() => state?.used === 500);
      expect(state).toMatchObject({ remaining: 500, allowed: true });
      expect(banner()).toEqual([]);

      // When an event of 600 is refused for the cap
      await act(async () => {
        await expect(tracking!.trackUsage({ userId: 'u', eventName: 'tokens', value: 600 })).rejects.toMatchObject({ code: 'quota-exceeded', remaining: '500' });
      });
      // Then 500 are still left, small events allowed, and no banner claims otherwise
      expect(state).toMatchObject({ used: 500, remaining: 500, allowed: true });
      expect(banner()).toEqual([]);

      // When the customer does reach the limit, the banner says so
      await act(async () => {
        await tracking!.trackUsage({ userId: 'u', eventName: 'tokens', value: 500 });
      });
      expect(state).toMatchObject({ used: 1000, remaining: 0, allowed: false });
      expect(banner().map((n) => [n.getAttribute('role'), n.textContent])).toEqual([['alert', expect.stringContaining('You have used all 1,000 tokens')]]);
    } finally {
      await act(async () => root?.unmount());
    }
  });

  it('switching user while the last one’s check is out: its failure shows neither as the new user’s error nor ends their loading', async () => {
    const { apiKey, creator } = await createCreatorWithKey(testServer().rt);
    const call = api(testServer().url, apiKey);
    expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'b' })).status).toBe(201);
    // User a's check fails after 200 ms; user b's answers after 600 ms
    const slowFetch: typeof fetch = async (input, init) => {
      const target = String(input);
      if (target.includes('user_id=a')) {
        await new Promise((r) => setTimeout(r, 200));
        throw new TypeError('fetch failed for a');
      }
      await new Promise((r) => setTimeout(r, 600));
      return fetch(input, init);
    };
    const tracker = new UsageTracker({ creatorId: creator.id, baseURL: testServer().url, apiKey, fetch: slowFetch, onError: () => undefined });
    let state: UsageState | undefined;
    const Probe = ({ userId }: { userId: string }) => {
      state = useUsage(userId, 'calls');
      return null;
    };
    const container = dom.document.body.appendChild(dom.document.createElement('div'));
    let root: Root | undefined;
    try {
      await act(async () => {
        root = createRoot(container as unknown as Element);
        root.render(h(UsageTrackingProvider, { tracker }, h(Probe, { userId: 'a' })));
      });
      // When the page switches to user b at once, and a's check fails meanwhile
      await act(async () => root!.render(h(UsageTrackingProvider, { tracker }, h(Probe, { userId: 'b' }))));
      await act(() => new Promise((r) => setTimeout(r, 350)));
      // Then b is still loading, with no error of a's
      expect(state).toMatchObject({ loading: true, error: null, used: null });
      // And b's own answer arrives
      await waitFor(() => state?.used === 1);
      expect(state).toMatchObject({ loading: false, error: null });
    } finally {
      await act(async () => root?.unmount());
      await tracker.shutdown({ timeoutMs: 100 });
    }
  });
});
