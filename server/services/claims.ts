import type { PgBoss } from 'pg-boss';
import type { Tx } from '../../db/client.js';
import { enqueueInTx, type QueueName, type QueuePayload } from '../../jobs/queues.js';

/**
 * Claims on rows whose sending leaves the machine (webhook messages, emails, Stripe
 * reports). The call to the outside runs with no transaction open: a short transaction
 * claims the row (its `sending_until`), the call runs, another records the outcome and
 * clears the claim. While a claim holds no other run sends the row; a claim left by a
 * process that died mid-call lapses, and the row is sent again (at least once: each
 * receiver gets the same id to deduplicate on).
 */

/**
 * How long past its call's longest wait a claim holds: time to record the outcome, with room
 * for a busy event loop. A claim older than that belongs to a process that died mid-call.
 */
export const CLAIM_MARGIN_MS = 30_000;

/** Whether another run is sending the row now. */
export const isClaimed = (sendingUntil: Date | null, now: Date): boolean => sendingUntil !== null && sendingUntil.getTime() > now.getTime();

/** Whether the row is still claimed by the run that set `until` (its claim lapses only if that process stalled past the margin). */
export const holdsClaim = (sendingUntil: Date | null | undefined, until: Date): boolean => sendingUntil?.getTime() === until.getTime();

/**
 * Queues one more run of the row's job for a second after the claim lapses (`now` and the
 * claim on the same clock; the job waits that long on the database's): by then its
 * holder has recorded the outcome, or died and that run sends it. The singletonKey names
 * the claim it waits out; pg-boss does not deduplicate on it in these (standard) queues, so
 * two runs finding one claim queue two such runs — the second finds the row recorded, or
 * claimed by the first, and sends nothing.
 */
export async function runAgainAfterClaim<Q extends QueueName>(
  boss: PgBoss,
  tx: Tx,
  queue: Q,
  payload: QueuePayload<Q>,
  rowId: string,
  sendingUntil: Date,
  now: Date,
): Promise<void> {
  const lapse = sendingUntil.getTime() + 1_000;
  await enqueueInTx(boss, tx, queue, payload, { startInMs: lapse - now.getTime(), singletonKey: `${rowId}:claim:${lapse}` });
}
