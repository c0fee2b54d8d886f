import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../server/services/api-keys.js';
import { loginThroughForm } from './harness/dashboard.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './fakes/webhook-receiver.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Rotating an endpoint's signing secret (`POST /api/usage/webhooks/{id}/rotate-secret`): a new
 * secret, shown once, and for the overlap asked for, messages signed by both (Standard
 * Webhooks' several signatures in one header), so a receiver switches over without losing a
 * message. Signatures are checked with the standardwebhooks library, as a creator's server
 * checks them.
 */
const { url } = await useTestDatabase();
let offsetMs = 0;
const HOUR = 3_600_000;
const PASSWORD = 'a sound passphrase';
let server: TestServer;
let receiver: WebhookReceiver;

beforeAll(async () => {
  server = await startTestServer(url, { pages: true, now: () => new Date(Date.now() + offsetMs), env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'true', WEBHOOK_TIMEOUT_MS: '3000', AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000' } });
  // Signatures are checked here, per secret, not by the receiver (which knows one secret a path).
  receiver = await startWebhookReceiver({ rejectBadSignatures: false });
});
afterAll(async () => {
  await receiver?.close();
  await server?.close();
});
afterEach(() => {
  offsetMs = 0;
});

async function setup() {
  const { apiKey, creator, email } = await createCreatorWithKey(server.rt, { password: PASSWORD });
  const call = api(server.url, apiKey);
  const path = `/hooks/${randomBytes(4).toString('hex')}`;
  const created = await call('POST', '/api/usage/webhooks', { url: receiver.url + path, events: ['usage.threshold_reached'] });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  return { call, email, creatorId: creator.id, endpoint: created.json as { id: string; secret: string; previous_secret_expires_at: string | null }, path };
}

/** Sends the endpoint a test message and answers the request the receiver got. */
async function testMessage(call: ReturnType<typeof api>, endpointId: string, path: string): Promise<ReceivedWebhook> {
  const sent = await call('POST', `/api/usage/webhooks/${endpointId}/test`);
  expect(sent.status, JSON.stringify(sent.json)).toBe(200);
  const got = receiver.received.filter((r) => r.path === path && r.id === sent.json.message_id);
  expect(got).toHaveLength(1);
  return got[0]!;
}

/** Whether a receiver holding only `secret` accepts the request. */
const verifiesWith = (secret: string, request: ReceivedWebhook) => {
  try {
    new Webhook(secret).verify(request.rawBody, request.headers);
    return true;
  } catch {
    return false;
  }
};

describe('rotating a webhook signing secret', () => {
  it('gives a new secret once; for the default 24 h messages verify with the new secret and with the old one, then with the new one only', async () => {
    const { call, endpoint, path } = await setup();
    expect(endpoint.previous_secret_expires_at).toBeNull();
    const before = await testMessage(call, endpoint.id, path);
    expect(before.headers['webhook-signature']!.split(' ')).toHaveLength(1);

    const rotated = await call('POST', `/api/usage/webhooks/${endpoint.id}/rotate-secret`);
    expect(rotated.status, JSON.stringify(rotated.json)).toBe(200);
    const secret = rotated.json.secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secret).not.toBe(endpoint.secret);
    const expiresAt = new Date(rotated.json.previous_secret_expires_at as string).getTime();
    expect(Math.abs(expiresAt - (Date.now() + 24 * HOUR))).toBeLessThan(60_000);
    // Shown once: reading the endpoint gives the overlap's end, never a secret
    const read = await call('GET', `/api/usage/webhooks/${endpoint.id}`);
    expect(read.json).toMatchObject({ previous_secret_expires_at: rotated.json.previous_secret_expires_at });
    expect(JSON.stringify(read.json)).not.toContain('whsec_');

    // During the overlap: two signatures; a receiver on either secret accepts the message
    const during = await testMessage(call, endpoint.id, path);
    expect(during.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(verifiesWith(secret, during)).toBe(true);
    expect(verifiesWith(endpoint.secret, during)).toBe(true);

    // After it: the new secret only
    offsetMs = 24 * HOUR + 60_000;
    const after = await testMessage(call, endpoint.id, path);
    expect(after.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(verifiesWith(secret, after)).toBe(true);
    expect(verifiesWith(endpoint.secret, after)).toBe(false);
  });

  it('with previous_secret_expires_in_hours 0 the old secret stops at once (a leaked secret); rotating again keeps only the secret it replaces', async () => {
    const { call, endpoint, path } = await setup();
    const first = await call('POST', `/api/usage/webhooks/${endpoint.id}/rotate-secret`, { previous_secret_expires_in_hours: 0 });
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    expect(first.json.previous_secret_expires_at).toBeNull();
    const message = await testMessage(call, endpoint.id, path);
    expect(verifiesWith(first.json.secret, message)).toBe(true);
    expect(verifiesWith(endpoint.secret, message)).toBe(false);

    const second = await call('POST', `/api/usage/webhooks/${endpoint.id}/rotate-secret`, { previous_secret_expires_in_hours: 168 });
    expect(second.status).toBe(200);
    expect(Math.abs(new Date(second.json.previous_secret_expires_at).getTime() - (Date.now() + 168 * HOUR))).toBeLessThan(60_000);
    const third = await call('POST', `/api/usage/webhooks/${endpoint.id}/rotate-secret`, { previous_secret_expires_in_hours: 1 });
    expect(third.status).toBe(200);
    const latest = await testMessage(call, endpoint.id, path);
    expect(latest.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(verifiesWith(third.json.secret, latest)).toBe(true);
    expect(verifiesWith(second.json.secret, latest)).toBe(true);
    expect(verifiesWith(first.json.secret, latest)).toBe(false);
  });

  it('bad input is refused naming the field and changes nothing; a read key is refused 403, another creator gets 404', async () => {
    const { call, creatorId, endpoint, path } = await setup();
    const cases: Array<[unknown, RegExp]> = [
      [{ previous_secret_expires_in_hours: 169 }, /0 .*168/],
      [{ previous_secret_expires_in_hours: -1 }, /0 .*168/],
      [{ previous_secret_expires_in_hours: 1.5 }, /whole number/],
      [{ previous_secret_expires_in_hours: '24' }, /number/],
      [{ previous_secret_expires_in_hours: null }, /number/],
      [{ previous_secret_expires_in_hours: 24, secret: 'whsec_mine' }, /./],
    ];
    for (const [body, message] of cases) {
      const refused = await call('POST', `/api/usage/webhooks/${endpoint.id}/rotate-secret`, body);
      expect(refused.status, JSON.stringify(body)).toBe(422);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      const field = (refused.json.errors as Array<{ field: string; message: string }>)[0]!;
      expect(field.field, JSON.stringify(body)).toBe('secret' in (body as object) ? 'secret' : 'previous_secret_expires_in_hours');
      expect(field.message, JSON.stringify(body)).toMatch(message);
    }
    const malformed = await call('POST', `/api/usage/webhooks/${endpoint.id}/rotate-secret`, '{"previous_secret_expires_in_hours": 1', { 'content-type': 'application/json' });
    expect(malformed.status).toBe(400);
    expect((await call('POST', '/api/usage/webhooks/not-a-uuid/rotate-secret')).status).toBe(422);

    const { secret: readKey } = await createApiKey(server.rt, creatorId, { name: 'reader', scopes: ['read'] });
    const asReader = await api(server.url, readKey)('POST', `/api/usage/webhooks/${endpoint.id}/rotate-secret`);
    expect(asReader.status).toBe(403);
    const other = await createCreatorWithKey(server.rt);
    const asOther = await api(server.url, other.apiKey)('POST', `/api/usage/webhooks/${endpoint.id}/rotate-secret`);
    expect(asOther.status).toBe(404);

    // Nothing changed: one signature, by the secret given at creation
    const read = await call('GET', `/api/usage/webhooks/${endpoint.id}`);
    expect(read.json.previous_secret_expires_at).toBeNull();
    const message = await testMessage(call, endpoint.id, path);
    expect(message.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(verifiesWith(endpoint.secret, message)).toBe(true);
  });

  it('from the dashboard: the endpoint’s page rotates it, shows the new secret once and until when the old one signs', async () => {
    const { call, email, endpoint, path } = await setup();
    const cookie = await loginThroughForm(server.url, email, PASSWORD);
    const pagePath = `/creator/dashboard/usage/settings/webhooks/${endpoint.id}`;
    const page = await fetch(server.url + pagePath, { headers: { cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Rotate secret');
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const posted = await fetch(server.url + pagePath, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: server.url },
      body: new URLSearchParams({ csrf, intent: 'rotate', previous_secret_expires_in_hours: '1' }).toString(),
    });
    expect(posted.status).toBe(200);
    expect(posted.headers.get('cache-control')).toContain('no-store');
    const answer = await posted.text();
    const secret = /data-testid="rotated-webhook-secret"[^>]*>(whsec_[^<]+)</.exec(answer)?.[1];
    expect(secret).toMatch(/^whsec_/);
    expect(answer).toMatch(/signed with it and with the old secret until/);
    // The secret shown is the one messages are signed with now; the old one still verifies (1 h)
    const message = await testMessage(call, endpoint.id, path);
    expect(verifiesWith(secret!, message)).toBe(true);
    expect(verifiesWith(endpoint.secret, message)).toBe(true);
    // Shown once: the page read again says until when the old one signs, without any secret
    const again = await (await fetch(server.url + pagePath, { headers: { cookie } })).text();
    expect(again).toContain('data-testid="previous-secret-until"');
    expect(again).not.toContain(secret!);
  });
});
