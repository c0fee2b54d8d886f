import { act, createElement as h } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { describe, expect, it, vi } from 'vitest';
import { createUsageClient, type UsageError } from '../../sdk/src/index';
import { UsageTrackingProvider, useUsage, type UsageState } from '../../sdk/src/react';
import { installMiniDom } from './mini-dom.js';
import { useTestDatabase } from '../harness/db.js';
import { useTrackerServer } from './tracker-server.js';

/**
 * @staryer/usage-sdk: a browser token for a user id that is not ASCII, and useUsage on a
 * hard-capped plan when a commit is seen before the first check's answer (from a review;
 * each test failed before its fix).
 */
const { url } = await useTestDatabase();
const { server, setup, storedRows } = useTrackerServer(url);

describe('browser tokens for user ids that are not ASCII', () => {
  // user_id is any text of 1–256 characters (DESIGN.md), and the server mints and accepts
  // a token for "josé". The SDK reads the token's `sub` with atob(), which yields the
  // UTF-8 bytes as Latin-1 ("josÃ©"), so it believes the token is for another user: it
  // asks getToken again, gets the same token, and rejects every event (and check) of that
  // customer with token-user-mismatch — never sent. The docs promise token-user-mismatch
  // only when getToken's token is for another user.
  it('events and checks of user "josé" with a token minted for "josé" are recorded, not refused with token-user-mismatch', async () => {
    const { tracker, creatorId, mint } = await setup();
    const t = tracker({ apiKey: undefined, getToken: () => mint('josé') });
    const tracked = await t.track({ userId: 'josé', eventName: 'calls' }).catch((e: UsageError) => e);
    expect(tracked).toMatchObject({ user_id: 'josé' });
    expect(await storedRows(creatorId)).toBe(1);
    await expect(t.checkUsage({ userId: 'josé', eventName: 'calls' })).resolves.toMatchObject({ used: '1' });
  });

  it('the typed client’s checkUsage for "用户-1" with that user’s token is answered', async () => {
    const { mint } = await setup();
    const client = createUsageClient({ baseURL: server().url, getToken: () => mint('用户-1') });
    await expect(client.checkUsage({ userId: '用户-1', eventName: 'calls' })).resolves.toMatchObject({ used: '0' });
  });
});

describe('useUsage on a hard-capped plan', () => {
  // useUsage's `allowed` is documented as "whether one more event (of value 1) would be
  // accepted", and `hardCap` as the plan's. When the tracker commits an event before the
  // first check's answer is in (a check computed just before the commit, its answer slower
  // than the batch's), the view built from the commit has no current state to take
  // hard_cap from (fromUpdate: `current?.hard_cap ?? false`) and, being newer, wins over
  // the check in merge(): the component shows hardCap false and allowed true at the limit
  // (remaining 0) until the next poll (30 s) — a button gated on `allowed` lets the
  // customer do work the server then refuses with 402.
  it('a commit seen before the first check answers does not make a capped customer at the limit look allowed', async () => {
    const { tracker, call } = await setup([{ event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 1, hard_cap: true }] }]);
    expect((await call('PUT', '/api/usage/customers/u', { plan_name: 'free' })).status).toBeLessThan(300);
    // The check is answered by the server at once, but its answer reaches the page late
    let releaseCheck!: () => void;
    const checkHeld = new Promise<void>((resolve) => (releaseCheck = resolve));
    let checksAnswered = 0;
    const slowCheck: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (String(input).includes('/api/usage/check')) {
        const text = await response.text();
        checksAnswered++;
        await checkHeld;
        return new Response(text, { status: response.status, headers: response.headers });
      }
      return response;
    };
    const dom = installMiniDom();
    (globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;
    const t = tracker({ fetch: slowCheck, flushInterval: 0 });
    let state: UsageState | undefined;
    const Probe = () => {
      state = useUsage('u', 'calls', { pollInterval: 0 });
      return null;
    };
    const container = dom.document.body.appendChild(dom.document.createElement('div'));
    let root: Root | undefined;
    try {
      await act(async () => {
        root = createRoot(container as unknown as Element);
        root.render(h(UsageTrackingProvider, { tracker: t }, h(Probe)));
      });
      // The server has answered the check (used 0) …
      await vi.waitFor(() => expect(checksAnswered).toBe(1));
      // … then the customer's one allowed event is committed: the limit is reached
      await act(async () => {
        await expect(t.track({ userId: 'u', eventName: 'calls' })).resolves.toMatchObject({ usage: { used: '1', remaining: '0' } });
      });
      await act(async () => {
        releaseCheck();
        await new Promise((r) => setTimeout(r, 0));
      });
      await vi.waitFor(() => expect(state?.loading).toBe(false));
      // The server refuses the next event (402), and so must the view say
      await expect(t.checkUsage({ userId: 'u', eventName: 'calls' })).resolves.toMatchObject({ allowed: false, hard_cap: true });
      expect({ used: state!.used, remaining: state!.remaining, hardCap: state!.hardCap, allowed: state!.allowed }).toEqual({ used: 1, remaining: 0, hardCap: true, allowed: false });
    } finally {
      await act(async () => root?.unmount());
      dom.uninstall();
    }
  });
});
