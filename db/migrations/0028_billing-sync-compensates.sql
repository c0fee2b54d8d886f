ALTER TABLE "usage_billing_sync" ADD COLUMN "compensates" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- Compensating rows written before this column carry the ledger's cumulative total unchanged,
-- where a report's is the last counted row's plus its delta: mark them from that.
UPDATE "usage_billing_sync" s SET "compensates" = true
WHERE s."cumulative_total" < coalesce((
  SELECT p."cumulative_total" FROM "usage_billing_sync" p
  WHERE p."creator_id" = s."creator_id" AND p."meter_id" = s."meter_id" AND p."customer_id" = s."customer_id"
    AND p."period_start" = s."period_start" AND p."sequence" < s."sequence" AND p."status" <> 'failed'
  ORDER BY p."sequence" DESC LIMIT 1
), 0) + s."quantity_delta";
