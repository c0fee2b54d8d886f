-- A counter is locked and read by its full key (creator, meter, customer, window, start).
-- Without statistics (the first seconds after a burst of new customers) the planner found
-- these two indexes as cheap as the primary key for that probe, though each matched only
-- part of the key and filtered the rest: a probe then walked every counter of the meter
-- (measured: 0.1–0.2 ms per key, quadratic over an import of new customers). With
-- customer_id in both, the full key is an exact probe of whichever index is chosen.
DROP INDEX "usage_aggregates_meter_window_idx";--> statement-breakpoint
CREATE INDEX "usage_aggregates_meter_window_idx" ON "usage_aggregates" USING btree ("creator_id","meter_id","window","window_start","customer_id");--> statement-breakpoint
DROP INDEX IF EXISTS usage_aggregates_period_idx;--> statement-breakpoint
CREATE INDEX usage_aggregates_period_idx ON usage_aggregates (creator_id, meter_id, window_start, customer_id)
  INCLUDE (window_end)
  WHERE "window" = 'period';
