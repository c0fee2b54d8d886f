/**
 * From a review of the contract (DESIGN.md, README.md) against the running server: the check
 * judges a user_id as track does. The test quotes the sentences it enforces.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

const { url } = await useTestDatabase();
const testServer = useTestServer(url);

describe('GET /api/usage/check judges user_id as track does', () => {
  it('answers 422 naming user_id for "." and "..", which track refuses — not allowed:true', async () => {
    // DESIGN.md: "`GET /api/usage/check?user_id=&event_name=[&value=]` → {"allowed",…} … (`allowed` =
    //   whether an event of `value`, default 1, would be accepted now)."
    // README.md: "A `user_id` is 1–256 characters, but not `.` or `..` (no URL path can carry them
    //   as a segment, so such a customer could never be looked up or opened: 422)."
    const server = testServer();
    const call = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
    await createMeter(call, { event_name: 'api_calls', display_name: 'API Calls', aggregation_type: 'count', unit_name: 'calls' });
    for (const userId of ['.', '..']) {
      // The event check asks about is refused by track…
      const tracked = await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: userId });
      expect(tracked.status, tracked.text).toBe(422);
      expect(tracked.json.errors).toEqual([expect.objectContaining({ field: 'user_id' })]);
      // …so check must not answer that it would be accepted (today: 200 {"allowed":true,…}).
      const checked = await call('GET', `/api/usage/check?user_id=${encodeURIComponent(userId)}&event_name=api_calls`);
      expect(checked.status, `check user_id=${userId}: ${checked.text}`).toBe(422);
      expect(checked.headers.get('content-type')).toBe('application/problem+json');
      expect(checked.json.errors).toEqual([expect.objectContaining({ field: 'user_id' })]);
    }
  });
});
