/**
 * @staryer/usage-sdk — track usage from your backend (API key) or your users' browsers
 * (short-lived user tokens): batched, retried safely (every event carries an idempotency
 * key), and settled per event. The React provider, `useUsage` and the components live in
 * `@staryer/usage-sdk/react`; `useUsageTracking` is also here, for the seed's import.
 */
export { initUsageTracking, trackUsage, flush, shutdown, checkUsage, getUsageTracker, useUsageTracking, type UsageTrackingApi } from './core';
export { UsageTracker, type CheckInput, type TrackEvent, type TrackedEvent, type UsageCheck, type UsageTrackingOptions, type UsageUpdate } from './tracker';
export { UsageError, QuotaExceededError, type Problem } from './errors';
export type { TokenResult } from './credentials';
export { createUsageClient, type UsageClient, type UsageClientOptions } from './client';
export type * from './router.generated';
