-- Meter rollups: forced RLS like every tenant table.
SELECT app_enable_tenant_rls('usage_meter_rollups');
--> statement-breakpoint
-- The live period counters by when they end: the overview reads "this period" of every
-- customer (periods differ by billing anchor) without touching ended periods.
CREATE INDEX usage_aggregates_live_idx ON usage_aggregates (creator_id, window_end)
  INCLUDE (meter_id, customer_id, window_start, value, event_count)
  WHERE "window" = 'period';
--> statement-breakpoint
-- Backfill from the per-customer hour and day windows that exist already, so charts of
-- past usage work after upgrading (new events add themselves through rollups.apply).
INSERT INTO usage_meter_rollups (creator_id, meter_id, grain, window_start, dimension, dimension_value, value, event_count)
SELECT a.creator_id, a.meter_id, a."window"::text, a.window_start, '', coalesce(c.plan_name, ''),
  CASE WHEN m.aggregation_type = 'max' THEN max(a.value) ELSE sum(a.value) END, sum(a.event_count)
FROM usage_aggregates a
JOIN usage_meters m ON m.creator_id = a.creator_id AND m.meter_id = a.meter_id
JOIN customers c ON c.creator_id = a.creator_id AND c.customer_id = a.customer_id
WHERE a."window" IN ('hour', 'day')
GROUP BY a.creator_id, a.meter_id, a."window", a.window_start, coalesce(c.plan_name, ''), m.aggregation_type;
--> statement-breakpoint
INSERT INTO usage_meter_rollups (creator_id, meter_id, grain, window_start, dimension, dimension_value, value, event_count)
SELECT d.creator_id, d.meter_id, d."window"::text, d.window_start, d.dimension, d.dimension_value,
  CASE WHEN m.aggregation_type = 'max' THEN max(d.value) ELSE sum(d.value) END, sum(d.event_count)
FROM usage_dimension_aggregates d
JOIN usage_meters m ON m.creator_id = d.creator_id AND m.meter_id = d.meter_id
WHERE d."window" IN ('hour', 'day')
GROUP BY d.creator_id, d.meter_id, d."window", d.window_start, d.dimension, d.dimension_value, m.aggregation_type;
