import { z } from 'zod';
import { ZText } from '../schemas/common.js';
import { ZCustomer, ZCustomerUsage, ZCustomerUsageInput, ZUpsertCustomerInput, type TCustomer } from '../schemas/usage.js';
import { upsertCustomer, type Customer } from '../services/customers.js';
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
    .input(z.object({ user_id: ZText(256).min(1, 'must not be empty'), customer: ZUpsertCustomerInput }))
    .output(ZCustomer.extend({ created: z.boolean() }))
    .mutation(async ({ ctx, input }) => {
      const { customer, created } = await upsertCustomer(ctx.rt, ctx.creatorId, input.user_id, input.customer);
      return { ...toApiCustomer(customer), created };
    }),

  usage: tenantProcedure('read')
    .input(ZCustomerUsageInput)
    .output(ZCustomerUsage)
    .query(({ ctx, input }) => getCustomerUsage(ctx.rt, ctx.creatorId, input.user_id, input.period)),
});
