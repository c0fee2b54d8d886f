import { ZAlert, ZAlertDetail, ZAlertList, ZAlertSettings, ZListAlertsInput, ZMuteInput, ZUpdateAlertSettingsInput } from '../schemas/alerts.js';
import { z } from 'zod';
import type { RestRoute } from './rest.js';
import { parseInput, queryObject, ZIdParam } from './validation.js';

const ZMuteResult = z.object({ user_id: z.string(), meter_id: z.uuid(), muted: z.boolean() });

export const ALERT_ROUTES: RestRoute[] = [
  {
    method: 'GET',
    path: '/api/usage/alerts',
    operationId: 'listAlerts',
    summary: 'Threshold crossings, newest first (filters: user_id, meter_id, kind, status; pages: limit, before + before_id of the last alert shown)',
    tag: 'Alerts',
    scope: 'read',
    query: ZListAlertsInput,
    responses: { 200: { description: 'Alerts', schema: ZAlertList } },
    handle: async ({ caller, query }) => ({ status: 200, body: await caller.alerts.list(parseInput(ZListAlertsInput, queryObject(query))) }),
  },
  {
    method: 'GET',
    path: '/api/usage/alerts/:id',
    operationId: 'getAlert',
    summary: 'One alert with its delivery log (emails and webhook messages)',
    tag: 'Alerts',
    scope: 'read',
    responses: { 200: { description: 'The alert', schema: ZAlertDetail } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.alerts.get(parseInput(ZIdParam, params)) }),
  },
  {
    method: 'POST',
    path: '/api/usage/alerts/:id/acknowledge',
    operationId: 'acknowledgeAlert',
    summary: 'Acknowledge an open alert (idempotent); records who and when',
    tag: 'Alerts',
    scope: 'admin',
    responses: { 200: { description: 'The alert', schema: ZAlert } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.alerts.acknowledge(parseInput(ZIdParam, params)) }),
  },
  {
    method: 'PUT',
    path: '/api/usage/alerts/mutes',
    operationId: 'muteAlerts',
    summary: 'Mute notifications for one customer × meter (alerts are still recorded)',
    tag: 'Alerts',
    scope: 'admin',
    body: ZMuteInput,
    responses: { 200: { description: 'Muted', schema: ZMuteResult }, 404: { description: 'No such meter for this creator' } },
    handle: async ({ caller, body }) => ({ status: 200, body: await caller.alerts.mute({ ...parseInput(ZMuteInput, body), muted: true }) }),
  },
  {
    method: 'DELETE',
    path: '/api/usage/alerts/mutes',
    operationId: 'unmuteAlerts',
    summary: 'Unmute notifications for one customer × meter',
    tag: 'Alerts',
    scope: 'admin',
    body: ZMuteInput,
    responses: { 200: { description: 'Unmuted', schema: ZMuteResult }, 404: { description: 'No such meter for this creator' } },
    handle: async ({ caller, body }) => ({ status: 200, body: await caller.alerts.mute({ ...parseInput(ZMuteInput, body), muted: false }) }),
  },
  {
    method: 'GET',
    path: '/api/usage/settings/alerts',
    operationId: 'getAlertSettings',
    summary: 'Who gets alert emails',
    tag: 'Settings',
    scope: 'read',
    responses: { 200: { description: 'Alert settings', schema: ZAlertSettings } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.alerts.settings() }),
  },
  {
    method: 'PUT',
    path: '/api/usage/settings/alerts',
    operationId: 'updateAlertSettings',
    summary: 'Set the creator’s alert address, kinds emailed, customer emails on/off, upgrade link',
    tag: 'Settings',
    scope: 'admin',
    body: ZUpdateAlertSettingsInput,
    responses: { 200: { description: 'Alert settings after the change', schema: ZAlertSettings } },
    handle: async ({ caller, body }) => ({ status: 200, body: await caller.alerts.updateSettings(parseInput(ZUpdateAlertSettingsInput, body)) }),
  },
];
