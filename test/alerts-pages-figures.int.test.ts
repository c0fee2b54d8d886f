/**
 * The alert pages as a creator reads them: figures carry their meter's unit (the API says
 * which), a list that ends exactly at a page's length offers no link to an empty page, and a
 * webhook message given up without an attempt says why.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { insertEndpoint, insertMessagesOnce, updateMessageRow } from '../db/queries/webhooks.js';
import { withCreator } from '../db/tenant.js';
import { describe, expect, it } from 'vitest';
import { loginThroughForm } from './harness/dashboard.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

const { url } = await useTestDatabase();
const server = useTestServer(url, { pages: true, env: { AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000' } });

const D = '/creator/dashboard/usage';

/** The page's visible text, tags dropped (React's <!-- --> separators too). */
const text = (html: string) => html.replace(/<script[\s\S]*?<\/script>/g, ' ').replace(/<!-- -->/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

async function creator() {
  const password = 'a sound passphrase';
  const { creator, apiKey, email } = await createCreatorWithKey(server().rt, { password });
  const cookie = await loginThroughForm(server().url, email, password);
  const page = async (path: string) => {
    const r = await fetch(server().url + path, { redirect: 'manual', headers: { cookie } });
    expect(r.status, path).toBe(200);
    return r.text();
  };
  return { creatorId: creator.id, call: api(server().url, apiKey), page };
}

/** A storage meter in GB whose limit is 10 with a soft limit at 80 %: one event of 12 raises two alerts (soft limit, overage). */
async function storageMeter(call: ReturnType<typeof api>) {
  const meter = await call('POST', '/api/usage/meters', {
    event_name: 'storage_used',
    display_name: 'Storage',
    aggregation_type: 'sum',
    unit_name: 'GB',
    plan_limits: [{ plan_name: 'starter', limit_value: 10, soft_limit_threshold: 0.8, overage_price: 0.5 }],
  });
  expect(meter.status, meter.text).toBe(201);
  return meter.json as { id: string };
}

async function overUse(call: ReturnType<typeof api>, users: string[]) {
  for (const user of users) expect((await call('PUT', `/api/usage/customers/${user}`, { plan_name: 'starter' })).status).toBe(201);
  const tracked = await call('POST', '/api/usage/track', users.map((user_id) => ({ event_name: 'storage_used', user_id, value: 12.5 })));
  expect(tracked.status, tracked.text).toBe(200);
  expect(tracked.json.results.map((r: { status: number }) => r.status)).toEqual(users.map(() => 201));
}

const olderLink = (html: string) => /<a [^>]*href="([^"]*before_id[^"]*)"[^>]*>Older (alerts|messages)/.exec(html)?.[1]?.replace(/&amp;/g, '&');

describe('alert figures carry their unit', () => {
  it('the API names the unit, and the Alerts list, an alert’s page and the customer page show "12.5 / 10 GB"', async () => {
    const { call, page } = await creator();
    await storageMeter(call);
    await overUse(call, ['ann']);
    const { alerts } = (await call('GET', '/api/usage/alerts')).json as { alerts: Array<{ id: string; unit_name: string; used: string; limit: string }> };
    expect(alerts).toHaveLength(2);
    for (const alert of alerts) expect(alert).toMatchObject({ unit_name: 'GB', used: '12.5', limit: '10' });

    expect(text(await page(`${D}/alerts`))).toContain('12.5 / 10 GB');
    expect(text(await page(`${D}/alerts/${alerts[0]!.id}`))).toContain('12.5 / 10 GB');
    expect(text(await page(`${D}/customers/ann`))).toContain('12.5 / 10 GB');
  });
});

describe('a list exactly one page long', () => {
  it('50 alerts: all shown, no "Older alerts" link; 52: the link leads to the 2 older ones, and no further link', async () => {
    const { call, page } = await creator();
    await storageMeter(call);
    await overUse(call, Array.from({ length: 25 }, (_, i) => `user_${i}`));
    expect((await call('GET', '/api/usage/alerts?limit=100')).json.alerts).toHaveLength(50);

    let html = await page(`${D}/alerts`);
    expect(html.match(/data-testid="alert-row"/g)).toHaveLength(50);
    expect(olderLink(html), 'a link to an empty page').toBeUndefined();

    await overUse(call, ['user_25']);
    html = await page(`${D}/alerts`);
    expect(html.match(/data-testid="alert-row"/g)).toHaveLength(50);
    const older = olderLink(html);
    expect(older).toBeDefined();
    const second = await page(older!.startsWith('/') ? older! : `${D}/alerts${older!}`);
    expect(second.match(/data-testid="alert-row"/g)).toHaveLength(2);
    expect(olderLink(second)).toBeUndefined();
  });

  it('an endpoint with 50 webhook messages: all shown, no "Older messages" link; 51: the link leads to the oldest one', async () => {
    const { call, creatorId, page } = await creator();
    const endpointId = randomUUID();
    const insert = (n: number, at: Date) =>
      withCreator(server().rt.db, creatorId, (tx) =>
        insertMessagesOnce(
          tx,
          Array.from({ length: n }, () => ({
            id: `msg_${randomBytes(18).toString('base64url')}`,
            creatorId,
            endpointId,
            alertId: randomUUID(),
            eventType: 'usage.overage_started' as const,
            payload: {},
            nextAttemptAt: null,
          })),
          at,
        ),
      );
    await withCreator(server().rt.db, creatorId, (tx) =>
      insertEndpoint(tx, { creatorId, id: endpointId, url: 'https://hooks.example.com/in', eventTypes: ['usage.overage_started'], secret: `whsec_${randomBytes(24).toString('base64')}` }, new Date()),
    );
    await insert(50, new Date(Date.now() - 60_000));
    expect((await call('GET', `/api/usage/webhooks/${endpointId}/deliveries?limit=100`)).json.messages).toHaveLength(50);

    let html = await page(`${D}/settings/webhooks/${endpointId}`);
    expect(html.match(/data-testid="webhook-message-row"/g)).toHaveLength(50);
    expect(olderLink(html), 'a link to an empty page').toBeUndefined();

    await insert(1, new Date());
    html = await page(`${D}/settings/webhooks/${endpointId}`);
    expect(html.match(/data-testid="webhook-message-row"/g)).toHaveLength(50);
    const older = olderLink(html);
    expect(older).toBeDefined();
    const second = await page(older!.startsWith('/') ? older! : `${D}/settings/webhooks/${endpointId}${older!}`);
    expect(second.match(/data-testid="webhook-message-row"/g)).toHaveLength(1);
    expect(olderLink(second)).toBeUndefined();
  });
});

describe('a webhook message given up without an attempt', () => {
  it('says why it was not sent and that a replay sends it, instead of an empty cell', async () => {
    const { creatorId, page } = await creator();
    const endpointId = randomUUID();
    const [message] = await withCreator(server().rt.db, creatorId, async (tx) => {
      await insertEndpoint(tx, { creatorId, id: endpointId, url: 'https://hooks.example.com/in', eventTypes: ['usage.overage_started'], secret: `whsec_${randomBytes(24).toString('base64')}` }, new Date());
      const inserted = await insertMessagesOnce(
        tx,
        [{ id: `msg_${randomBytes(18).toString('base64url')}`, creatorId, endpointId, alertId: randomUUID(), eventType: 'usage.overage_started' as const, payload: {}, nextAttemptAt: null }],
        new Date(),
      );
      // As a delivery leaves it when its endpoint was disabled by the time its turn came.
      await updateMessageRow(tx, inserted[0]!.id, { status: 'failed', nextAttemptAt: null });
      return inserted;
    });
    const html = await page(`${D}/settings/webhooks/${endpointId}`);
    expect(html).toMatch(new RegExp(`data-message-id="${message!.id}"`));
    expect(text(html)).toContain('Not sent: the endpoint was disabled, or no longer takes this event type. Replay it to send it now.');
  });
});
