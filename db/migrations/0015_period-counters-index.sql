-- The live period counters by meter and start, carrying what the dashboard reads, so the
-- overview (every meter: a skip scan), Top users (one meter's current or previous periods)
-- and Revenue answer from the index alone: a period lasts at most 31 days, so "current"
-- and "previous" are short ranges of window_start. Replaces 0014's index on window_end,
-- which could not serve a single meter.
DROP INDEX IF EXISTS usage_aggregates_live_idx;
--> statement-breakpoint
CREATE INDEX usage_aggregates_period_idx ON usage_aggregates (creator_id, meter_id, window_start)
  INCLUDE (customer_id, window_end, value, event_count)
  WHERE "window" = 'period';
