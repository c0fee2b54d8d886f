import { z } from 'zod';
import { getQueueHealth } from '../services/queue-health.js';
import { router, tenantProcedure } from '../trpc.js';

const ZQueueHealth = z.object({
  name: z.string(),
  /** Waiting to run (ready, deferred or blocked). */
  queued: z.number().int(),
  active: z.number().int(),
  /** Failed jobs still retained: a rolling count of recent failures. */
  failed: z.number().int(),
});

export const ZQueueHealthList = z.object({ queues: z.array(ZQueueHealth) });
export type TQueueHealthList = z.infer<typeof ZQueueHealthList>;

export const systemRouter = router({
  /** Depth and failures of the creator's own jobs, by queue. */
  queues: tenantProcedure('read')
    .output(ZQueueHealthList)
    .query(async ({ ctx }) => ({ queues: await getQueueHealth(ctx.rt, ctx.creatorId) })),
});
