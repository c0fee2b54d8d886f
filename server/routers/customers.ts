import { z } from 'zod';
import { ZUserId } from '../schemas/common.js';
import { ZCustomerDetail, ZCustomerEvents, ZCustomerEventsInput, ZCustomerGetInput, ZTopCustomers, ZTopCustomersInput } from '../schemas/customers.js';
import { ZCustomer, ZCustomerUsage, ZCustomerUsageInput, ZUpsertCustomerInput, ZWarnings, type TCustomer } from '../schemas/usage.js';
import { upsertCustomer, type Customer } from '../services/customers.js';
import { getCustomerDetail, listEventsOfCustomer, listTopCustomersOf } from '../services/customer-insights.js';
import { getCustomerUsage } from '../services/usage.js';
import { router, tenantProcedure } from '../trpc.js';

export const toApiCustomer = (c: Customer): TCustomer => ({
  user_id: c.userId,
  plan_name: c.planName,
  email: c.email,
  name: c.name,
  billing_anchor: c.billingAnchor?.toISOString() ?? null,
  stripe_customer_id: c.stripeCustomerId,
  stripe_subscription_items: c.stripeSubscriptionItems,
  tenant_id: c.tenantId,
  created_at: c.createdAt.toISOString(),
  updated_at: c.updatedAt.toISOString(),
});

export const customersRouter = router({
  upsert: tenantProcedure('admin')
    .input(z.object({ user_id: ZUserId, customer: ZUpsertCustomerInput }))
    .output(ZCustomer.extend({ created: z.boolean(), warnings: ZWarnings.optional() }))
    .mutation(async ({ ctx, input }) => {
      const { customer, created, warnings } = await upsertCustomer(ctx.rt, ctx.creatorId, input.user_id, input.customer);
      return { ...toApiCustomer(customer), created, ...(warnings ? { warnings } : {}) };
    }),

  usage: tenantProcedure('read')
    .input(ZCustomerUsageInput)
    .output(ZCustomerUsage)
    .query(({ ctx, input }) => getCustomerUsage(ctx.rt, ctx.creatorId, input.user_id, input.period)),

  /** Customers ranked on one meter for their current or previous period (keyset pages). */
  top: tenantProcedure('read')
    .input(ZTopCustomersInput)
    .output(ZTopCustomers)
    .query(({ ctx, input }) => listTopCustomersOf(ctx.rt, ctx.creatorId, input)),

  /** One customer: profile, usage against each limit now, earlier periods and this period's days. */
  get: tenantProcedure('read')
    .input(ZCustomerGetInput)
    .output(ZCustomerDetail)
    .query(async ({ ctx, input }) => {
      const detail = await getCustomerDetail(ctx.rt, ctx.creatorId, input.user_id);
      return { ...detail, customer: toApiCustomer(detail.customer) };
    }),

  /** A customer's raw events, newest first, by keyset (occurred_at, event id). */
  events: tenantProcedure('read')
    .input(ZCustomerEventsInput)
    .output(ZCustomerEvents)
    .query(({ ctx, input }) => listEventsOfCustomer(ctx.rt, ctx.creatorId, input)),
});
