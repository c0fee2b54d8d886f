import { act, createElement as h } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { describe, expect, it } from 'vitest';
import { UsageTracker, createUsageClient, initUsageTracking, getUsageTracker, trackUsage } from '../../sdk/src/index';
import { trackingApi, type UsageTrackingApi } from '../../sdk/src/core';
import { useUsage, type UsageState } from '../../sdk/src/react';
import { useTestDatabase } from '../harness/db.js';

import { useTrackerServer } from './tracker-server.js';
import { installMiniDom } from './mini-dom.js';

/** Fixes from a review of the SDK: defects a developer (or their billed customers) would observe. */
const { url } = await useTestDatabase();
const { server, proxy, setup, trackers, storedRows } = useTrackerServer(url);

describe('browser tokens across a change of signed-in user', () => {
  it('events for another user than the cached token’s ask getToken again, and the new user’s events are recorded', async () => {
    const { tracker, creatorId, mint } = await setup();
    // The creator's backend mints a token for whoever is signed in now
    let signedIn = 'alice';
    let asked = 0;
    const t = tracker({ apiKey: undefined, getToken: () => (asked++, mint(signedIn)) });
    await t.track({ userId: 'alice', eventName: 'calls' });
    // Alice signs out, Bob signs in (same tab, same tracker)
    signedIn = 'bob';
    const bob = t.track({ userId: 'bob', eventName: 'calls' });
    // Then Bob's usage is recorded (it is: with Bob's token) — not refused with Alice's cached one
    await expect(bob).resolves.toMatchObject({ user_id: 'bob' });
    expect(asked).toBe(2);
    expect(await storedRows(creatorId)).toBe(2);
  });

  it('a batch carries one user’s events; those of a user getToken has no token for are refused with token-user-mismatch, not retried', async () => {
    const { tracker, creatorId, mint } = await setup();
    let asked = 0;
    const t = tracker({ apiKey: undefined, getToken: () => (asked++, mint('alice')) });
    // Queued together: Alice, Bob (signed out meanwhile), Alice
    const [first, bob, third] = await Promise.allSettled([
      t.track({ userId: 'alice', eventName: 'calls' }),
      t.track({ userId: 'bob', eventName: 'calls' }),
      t.track({ userId: 'alice', eventName: 'calls' }),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(third.status).toBe('fulfilled');
    expect(bob).toMatchObject({ status: 'rejected', reason: { code: 'token-user-mismatch' } });
    // Alice's two events went in one request; Bob's never left the page
    expect(proxy().log.filter((r) => r.path === '/api/usage/track').map((r) => r.events)).toEqual([2]);
    expect(asked).toBe(2);
    expect(await storedRows(creatorId)).toBe(2);
    // A check for Bob is refused the same way
    await expect(t.checkUsage({ userId: 'bob', eventName: 'calls' })).rejects.toMatchObject({ code: 'token-user-mismatch' });
  });
});

describe('typed client', () => {
  it('checkUsage rounds a computed value (0.1 + 0.2) to 9 decimals, as the tracker’s checkUsage does', async () => {
    const { apiKey, tracker } = await setup([{ event_name: 'bytes', aggregation_type: 'sum' }]);
    const viaTracker = await tracker().checkUsage({ userId: 'u', eventName: 'bytes', value: 0.1 + 0.2 });
    expect(viaTracker.allowed).toBe(true);
    const client = createUsageClient({ baseURL: server().url, apiKey });
    await expect(client.checkUsage({ userId: 'u', eventName: 'bytes', value: 0.1 + 0.2 })).resolves.toMatchObject({ allowed: true });
  });
});

describe('typed client with browser tokens', () => {
  it('a token the server refuses (401) is asked for again once and the call sent again with the fresh one', async () => {
    const { mint } = await setup();
    let asked = 0;
    const client = createUsageClient({
      baseURL: server().url,
      // The first answer is a token the server refuses (say, minted before a secret rotation)
      getToken: async () => (asked++ === 0 ? 'eyJhbGciOiJIUzI1NiJ9.eyJjaWQiOiJ4In0.AAAA' : mint('u')),
    });
    const first = await client.checkUsage({ userId: 'u', eventName: 'calls' }).then(
      () => 'ok',
      (e: { code?: string }) => e.code,
    );
    const second = await client.checkUsage({ userId: 'u', eventName: 'calls' }).then(
      () => 'ok',
      (e: { code?: string }) => e.code,
    );
    // As the tracker does: the 401 asks getToken once more and the same call succeeds
    expect([first, second]).toEqual(['ok', 'ok']);
    expect(asked).toBe(2);
  });

  it('a getToken that never answers fails the call with token-unavailable after tokenTimeout instead of hanging it', async () => {
    const client = createUsageClient({ baseURL: server().url, getToken: () => new Promise<string>(() => undefined), tokenTimeout: 200 });
    await expect(client.checkUsage({ userId: 'u', eventName: 'calls' })).rejects.toMatchObject({ code: 'token-unavailable' });
  });
});

describe('the root useUsageTracking', () => {
  it('outside a render it uses the default tracker, even when @staryer/usage-sdk/react is loaded in the same process (SSR app)', async () => {
    const { apiKey, creatorId } = await setup();
    const { useUsageTracking } = await import('../../sdk/src/index');
    initUsageTracking({ creatorId, baseURL: server().url, apiKey, onError: () => undefined });
    try {
      // e.g. in an HTTP handler of the same server that renders pages with <UsageBar>
      const api = (() => {
        try {
          return useUsageTracking();
        } catch (error) {
          return error as Error;
        }
      })();
      expect(api).not.toBeInstanceOf(Error);
      await expect((api as { trackAPICall: (u: string, e: string, m: string) => Promise<unknown> }).trackAPICall('u', '/x', 'GET')).rejects.toMatchObject({ code: 'unknown-meter' });
    } finally {
      await getUsageTracker()?.shutdown({ timeoutMs: 500 });
    }
  });

  it('during a render it still uses the nearest <UsageTrackingProvider>’s tracker', async () => {
    const { tracker } = await setup();
    const t = tracker();
    const { useUsageTracking } = await import('../../sdk/src/index');
    const { UsageTrackingProvider } = await import('../../sdk/src/react');
    const dom = installMiniDom();
    (globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;
    let seen: UsageTrackingApi | undefined;
    const Probe = () => {
      seen = useUsageTracking();
      return null;
    };
    const container = dom.document.body.appendChild(dom.document.createElement('div'));
    let root: Root | undefined;
    try {
      await act(async () => {
        root = createRoot(container as unknown as Element);
        root.render(h(UsageTrackingProvider, { tracker: t }, h(Probe)));
      });
      expect(seen).toBe(trackingApi(t));
    } finally {
      await act(async () => root?.unmount());
      dom.uninstall();
    }
  });
});

describe('React useUsage', () => {
  const waitFor = async (condition: () => boolean) => {
    for (let i = 0; i < 100 && !condition(); i++) await act(() => new Promise((r) => setTimeout(r, 50)));
    expect(condition()).toBe(true);
  };

  it('no render for a new userId shows the previous user’s usage (it is loading until its own answer)', async () => {
    const { apiKey, creatorId, call } = await setup();
    for (let i = 0; i < 3; i++) expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'alice' })).status).toBe(201);
    const dom = installMiniDom();
    (globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;
    const t = new UsageTracker({ creatorId, baseURL: server().url, apiKey, onError: () => undefined });
    trackers.push(t);
    const renders: Array<{ userId: string; used: number | null }> = [];
    const Probe = ({ userId }: { userId: string }) => {
      const state = useUsage(userId, 'calls');
      renders.push({ userId, used: state.used });
      return null;
    };
    const { UsageTrackingProvider } = await import('../../sdk/src/react');
    const container = dom.document.body.appendChild(dom.document.createElement('div'));
    let root: Root | undefined;
    try {
      await act(async () => {
        root = createRoot(container as unknown as Element);
        root.render(h(UsageTrackingProvider, { tracker: t }, h(Probe, { userId: 'alice' })));
      });
      await waitFor(() => renders.at(-1)?.used === 3);
      await act(async () => root!.render(h(UsageTrackingProvider, { tracker: t }, h(Probe, { userId: 'bob' }))));
      await waitFor(() => renders.at(-1)?.used === 0);
      // Bob has used nothing: no render for Bob may show Alice's 3
      expect(renders.filter((r) => r.userId === 'bob').map((r) => r.used)).not.toContain(3);
    } finally {
      await act(async () => root?.unmount());
      await new Promise((r) => setTimeout(r, 300));
      dom.uninstall();
    }
  });

  it('follows the default tracker initUsageTracking replaces: the old one’s shutdown never shows as an error, the new one’s commits do', async () => {
    const { apiKey, creatorId } = await setup();
    const dom = installMiniDom();
    (globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;
    initUsageTracking({ creatorId, baseURL: server().url, apiKey, onError: () => undefined, flushInterval: 10 });
    let state: UsageState | undefined;
    const history: Array<{ used: number | null; error?: string; loading: boolean }> = [];
    const Probe = () => {
      state = useUsage('u', 'calls', { pollInterval: 100 });
      history.push({ used: state.used, error: state.error?.code, loading: state.loading });
      return null;
    };
    const container = dom.document.body.appendChild(dom.document.createElement('div'));
    let root: Root | undefined;
    try {
      await act(async () => {
        root = createRoot(container as unknown as Element);
        root.render(h(Probe));
      });
      await act(async () => void (await trackUsage({ userId: 'u', eventName: 'calls' })));
      await waitFor(() => state?.used === 1);
      // The app re-initialises (say, a rotated key): the old tracker is shut down. In act:
      // hooks that use the default tracker render again.
      await act(async () => void initUsageTracking({ creatorId, baseURL: server().url, apiKey, onError: () => undefined, flushInterval: 10 }));
      await act(async () => void (await trackUsage({ userId: 'u', eventName: 'calls' })));
      await waitFor(() => state?.used === 2);
      // and at no point did it show the old tracker's shutdown as this customer's error
      expect(history.map((r) => r.error)).not.toContain('shutdown');
    } finally {
      await act(async () => root?.unmount());
      await new Promise((r) => setTimeout(r, 300));
      await getUsageTracker()?.shutdown({ timeoutMs: 500 });
      dom.uninstall();
    }
  });
});
