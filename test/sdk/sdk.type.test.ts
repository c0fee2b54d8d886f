import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { describe, expectTypeOf, it } from 'vitest';
import type { AppRouter } from '../../server/root';
import {
  type QuotaExceededError,
  type UsageError,
  type UsageTracker,
  createUsageClient,
  initUsageTracking,
  trackUsage,
  type useUsageTracking,
  type TrackEvent,
  type TrackedEvent,
  type UsageCheck,
  type UsageClient,
  type UsageRouter,
  type UsageTrackingOptions,
} from '../../sdk/src/index';
import { LimitBanner, UsageBar, UsageTrackingProvider, useUsage, type useUsageTracking as useUsageTrackingReact, type UsageState } from '../../sdk/src/react';

/**
 * The public types of @staryer/usage-sdk, pinned. `expectTypeOf` is checked by tsc
 * (`npm run typecheck`); at run time these tests only call nothing.
 */
type Published = Omit<AppRouter['_def']['record'], 'auth'> & { auth: Pick<AppRouter['_def']['record']['auth'], 'me'> };

describe('the generated router is the server’s AppRouter (drift fails typecheck: run `npm run sdk:build`)', () => {
  it('inputs and outputs of every procedure an API key can call', () => {
    // A type error below means sdk/src/router.generated.ts is stale: a procedure changed on
    // the server. Run `npm run sdk:build` (npm test does) and commit the regenerated file.
    type In = inferRouterInputs<UsageRouter>;
    type Out = inferRouterOutputs<UsageRouter>;
    type ServerIn = inferRouterInputs<AppRouter>;
    type ServerOut = inferRouterOutputs<AppRouter>;
    expectTypeOf<keyof In>().toEqualTypeOf<keyof Published>();
    expectTypeOf<Omit<In, 'auth'>>().toEqualTypeOf<Omit<ServerIn, 'auth'>>();
    expectTypeOf<Omit<Out, 'auth'>>().toEqualTypeOf<Omit<ServerOut, 'auth'>>();
    expectTypeOf<In['auth']>().toEqualTypeOf<Pick<ServerIn['auth'], 'me'>>();
    expectTypeOf<Out['auth']>().toEqualTypeOf<Pick<ServerOut['auth'], 'me'>>();
  });
});

describe('seed API', () => {
  it('initUsageTracking({ creatorId, baseURL, apiKey?, getToken? })', () => {
    expectTypeOf(initUsageTracking).parameter(0).toEqualTypeOf<UsageTrackingOptions>();
    expectTypeOf<Pick<UsageTrackingOptions, 'creatorId' | 'baseURL'>>().toEqualTypeOf<{ creatorId: string; baseURL: string }>();
    expectTypeOf<UsageTrackingOptions['apiKey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<UsageTrackingOptions['getToken']>().toEqualTypeOf<(() => string | { token: string; expires_at?: string } | Promise<string | { token: string; expires_at?: string }>) | undefined>();
    expectTypeOf(initUsageTracking).returns.toEqualTypeOf<UsageTracker>();
  });

  it('trackUsage({ userId, eventName, value?, properties? }) → the committed event', () => {
    expectTypeOf(trackUsage).parameter(0).toEqualTypeOf<TrackEvent>();
    expectTypeOf<Pick<TrackEvent, 'userId' | 'eventName' | 'value' | 'properties'>>().toEqualTypeOf<{
      userId: string;
      eventName: string;
      value?: number | string;
      properties?: Record<string, unknown>;
    }>();
    expectTypeOf(trackUsage).returns.toEqualTypeOf<Promise<TrackedEvent>>();
    expectTypeOf<TrackedEvent['usage']>().toEqualTypeOf<{ used: string; limit: string | null; remaining: string | null; period_start: string; period_end: string }>();
  });

  it('useUsageTracking() → trackAPICall, trackFeatureUsage, trackUsage (root and /react alike)', () => {
    type Api = ReturnType<typeof useUsageTracking>;
    expectTypeOf<ReturnType<typeof useUsageTrackingReact>>().toEqualTypeOf<Api>();
    expectTypeOf<Api['trackAPICall']>().toEqualTypeOf<(userId: string, endpoint: string, method: string) => Promise<TrackedEvent>>();
    expectTypeOf<Api['trackFeatureUsage']>().toEqualTypeOf<(userId: string, feature: string, seconds: number) => Promise<TrackedEvent>>();
    expectTypeOf<Api['trackUsage']>().toEqualTypeOf<(event: TrackEvent) => Promise<TrackedEvent>>();
  });
});

describe('errors', () => {
  it('QuotaExceededError is a UsageError with the hard cap’s figures', () => {
    expectTypeOf<QuotaExceededError>().toExtend<UsageError>();
    expectTypeOf<Pick<QuotaExceededError, 'used' | 'limit' | 'remaining' | 'period_end' | 'status'>>().toEqualTypeOf<{
      readonly used: string;
      readonly limit: string | null;
      readonly remaining: string | null;
      readonly period_end: string;
      readonly status: number;
    }>();
  });
});

describe('typed client', () => {
  it('createUsageClient exposes every procedure with the server’s types, and checkUsage', () => {
    expectTypeOf(createUsageClient).returns.toEqualTypeOf<UsageClient>();
    type Client = ReturnType<typeof createUsageClient>;
    expectTypeOf<Parameters<Client['meters']['create']['mutate']>[0]>().toEqualTypeOf<inferRouterInputs<AppRouter>['meters']['create']>();
    expectTypeOf<Awaited<ReturnType<Client['customers']['usage']['query']>>>().toEqualTypeOf<inferRouterOutputs<AppRouter>['customers']['usage']>();
    expectTypeOf<Awaited<ReturnType<Client['usage']['trackBatch']['mutate']>>>().toEqualTypeOf<inferRouterOutputs<AppRouter>['usage']['trackBatch']>();
    expectTypeOf<Client['checkUsage']>().toEqualTypeOf<(input: { userId: string; eventName: string; value?: number | string; properties?: Record<string, unknown> }) => Promise<UsageCheck>>();
    expectTypeOf<UsageCheck>().toEqualTypeOf<inferRouterOutputs<AppRouter>['usage']['check']>();
    // Dashboard-only procedures are not on the client.
    expectTypeOf<Client['auth']>().not.toHaveProperty('login');
  });
});

describe('react', () => {
  it('useUsage(userId, eventName) → live numbers', () => {
    expectTypeOf(useUsage).parameters.toEqualTypeOf<[userId: string, eventName: string, options?: { pollInterval?: number }]>();
    expectTypeOf(useUsage).returns.toEqualTypeOf<UsageState>();
    expectTypeOf<Pick<UsageState, 'used' | 'limit' | 'remaining'>>().toEqualTypeOf<{ used: number | null; limit: number | null; remaining: number | null }>();
  });

  it('components take live or given figures', () => {
    expectTypeOf(UsageBar).toBeCallableWith({ userId: 'u', eventName: 'api_calls' });
    expectTypeOf(UsageBar).toBeCallableWith({ used: 5, limit: 10 });
    expectTypeOf(LimitBanner).toBeCallableWith({ userId: 'u', eventName: 'api_calls', upgradeUrl: '/pricing' });
    expectTypeOf(UsageTrackingProvider).toBeCallableWith({ creatorId: 'c', baseURL: 'https://x', getToken: async () => 't' });
  });
});
