-- Row sets of period-counter keys arrive as one JSON parameter. json_to_recordset is
-- estimated at 100 rows, which leads the planner to hash-join against all of a creator's
-- counters; this wrapper is not inlined and declares 10 rows, so each key is one index
-- probe (measured: 23–40 ms → 0.2 ms for 10 keys among 10,000 counters).
CREATE OR REPLACE FUNCTION app_counter_rows(p json)
  RETURNS TABLE (meter_id uuid, customer_id uuid, window_start timestamptz, value numeric, event_count bigint)
  LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
  AS $$
BEGIN
  RETURN QUERY SELECT x.meter_id, x.customer_id, x.window_start, x.value, x.event_count
    FROM json_to_recordset(p) AS x(meter_id uuid, customer_id uuid, window_start timestamptz, value numeric, event_count bigint);
END
$$;
--> statement-breakpoint
-- Counters and idempotency answers are updated in place; room on each page keeps those
-- updates HOT (no new index entries).
ALTER TABLE usage_aggregates SET (fillfactor = 80);
--> statement-breakpoint
ALTER TABLE usage_idempotency_keys SET (fillfactor = 80);
--> statement-breakpoint
-- The same for idempotency answers written back after a group's events are judged.
CREATE OR REPLACE FUNCTION app_idempotency_rows(p jsonb)
  RETURNS TABLE (idempotency_key text, response jsonb)
  LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
  AS $$
BEGIN
  RETURN QUERY SELECT x.idempotency_key, x.response FROM jsonb_to_recordset(p) AS x(idempotency_key text, response jsonb);
END
$$;
