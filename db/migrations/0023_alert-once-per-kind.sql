-- A soft-limit (hard-limit, overage) alert is raised once per meter × customer × period,
-- whatever its threshold was: a soft threshold changed mid-period raised a second one.
-- Such second alerts (their notifications went out already) are removed, the first kept.
DROP INDEX "usage_alerts_once_key";--> statement-breakpoint
DELETE FROM "usage_alerts" a USING "usage_alerts" b
WHERE a."kind" <> 'threshold_reached' AND b."kind" = a."kind"
  AND b."creator_id" = a."creator_id" AND b."meter_id" = a."meter_id" AND b."customer_id" = a."customer_id"
  AND b."period_start" = a."period_start"
  AND (b."created_at", b."alert_id") < (a."created_at", a."alert_id");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_alerts_once_key" ON "usage_alerts" USING btree ("creator_id","meter_id","customer_id","period_start","kind",(case when "kind" = 'threshold_reached' then "threshold" else 0 end));
