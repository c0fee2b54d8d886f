/**
 * The SDK examples of the seed document, character for character (the seed's shapes are
 * the product's fixed contract). pack.int.test.ts runs them against a started server,
 * changing nothing but the two placeholders of the Initialize example; e2e/sdk.spec.ts
 * clicks the React one in Chromium. When the seed is at hand (../shared/seed), the test
 * checks that each is still in it verbatim.
 */
export const SEED_FILE = '../shared/seed/000_ee282066926439d6.txt';

export const SEED_PLACEHOLDERS = { creatorId: "'your-creator-id'", baseURL: "'https://your-platform.com'" };

export const SEED_INITIALIZE = `import { initUsageTracking } from '@staryer/usage-sdk';

initUsageTracking({
  creatorId: 'your-creator-id',
  baseURL: 'https://your-platform.com'
});`;

export const SEED_TRACK_EVENTS = `import { trackUsage } from '@staryer/usage-sdk';

// Basic usage tracking
await trackUsage({
  userId: 'user-123',
  eventName: 'api_calls',
  value: 1
});

// With properties
await trackUsage({
  userId: 'user-123',
  eventName: 'messages_sent',
  value: 1,
  properties: {
    type: 'text',
    channel: 'general'
  }
});`;

/** The JavaScript of "API Rate Limiting" (the block goes on with a JSON limits object, which is not code). */
export const SEED_API_RATE_LIMITING = `// Track API calls
trackUsage({
  userId: 'user-123',
  eventName: 'api_calls',
  value: 1,
  properties: { endpoint: '/api/users' }
});`;

export const SEED_STORAGE_USAGE = `// Track storage usage
trackUsage({
  userId: 'user-123',
  eventName: 'storage_used',
  value: 1048576, // bytes
  properties: { file_type: 'image' }
});`;

export const SEED_FEATURE_USAGE = `// Track feature usage time
trackUsage({
  userId: 'user-123',
  eventName: 'feature_usage',
  value: 300, // seconds
  properties: { feature: 'advanced_editor' }
});`;

export const SEED_REACT_HOOK = `import { useUsageTracking } from '@staryer/usage-sdk';

function MyComponent() {
  const { trackAPICall, trackFeatureUsage } = useUsageTracking();

  const handleAPICall = async () => {
    await fetch('/api/data');
    trackAPICall('user-123', '/api/data', 'GET');
  };

  return <button onClick={handleAPICall}>Fetch Data</button>;
}`;

export const SEED_EXAMPLES = { SEED_INITIALIZE, SEED_TRACK_EVENTS, SEED_API_RATE_LIMITING, SEED_STORAGE_USAGE, SEED_FEATURE_USAGE, SEED_REACT_HOOK };

/** The meters the examples report to. */
export const SEED_METERS = [
  { event_name: 'api_calls', aggregation_type: 'count' },
  { event_name: 'messages_sent', aggregation_type: 'count' },
  { event_name: 'storage_used', aggregation_type: 'sum' },
  { event_name: 'feature_usage', aggregation_type: 'duration' },
] as const;
