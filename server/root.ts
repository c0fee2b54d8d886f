import { alertsRouter } from './routers/alerts.js';
import { apiKeysRouter } from './routers/api-keys.js';
import { authRouter } from './routers/auth.js';
import { billingRouter } from './routers/billing.js';
import { customersRouter } from './routers/customers.js';
import { emailsRouter } from './routers/emails.js';
import { insightsRouter } from './routers/insights.js';
import { metersRouter } from './routers/meters.js';
import { revenueRouter } from './routers/revenue.js';
import { settingsRouter } from './routers/settings.js';
import { systemRouter } from './routers/system.js';
import { usageRouter } from './routers/usage.js';
import { webhooksRouter } from './routers/webhooks.js';
import { createCallerFactory, router } from './trpc.js';

export const appRouter = router({
  auth: authRouter,
  apiKeys: apiKeysRouter,
  meters: metersRouter,
  customers: customersRouter,
  settings: settingsRouter,
  usage: usageRouter,
  alerts: alertsRouter,
  webhooks: webhooksRouter,
  billing: billingRouter,
  system: systemRouter,
  emails: emailsRouter,
  revenue: revenueRouter,
  insights: insightsRouter,
});

export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
export type Caller = ReturnType<typeof createCaller>;
