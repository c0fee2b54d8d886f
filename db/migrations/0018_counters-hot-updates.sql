-- Period counters are updated by every accepted event. 0015 carried value and event_count
-- in usage_aggregates_period_idx, which made every counter update a non-HOT update (a new
-- entry in each of the table's three indexes, per update); and index-only reads of live
-- counters are rare anyway, as each update clears its page's all-visible bit. The index
-- keeps what never changes after a counter is created.
DROP INDEX IF EXISTS usage_aggregates_period_idx;
--> statement-breakpoint
CREATE INDEX usage_aggregates_period_idx ON usage_aggregates (creator_id, meter_id, window_start)
  INCLUDE (customer_id, window_end)
  WHERE "window" = 'period';
--> statement-breakpoint
-- Writes back counters the calling transaction has locked, each found by the ctid its lock
-- returned (a one-tuple TID scan, whatever the statistics say; a set-based UPDATE ... FROM
-- let stale statistics put the table on the outside of the join and walk all of a
-- creator's counters: 16 ms instead of 0.1 ms over 10,000 customers). The key is checked
-- again; the caller compares the count with what it sent. Runs as the caller (RLS applies).
CREATE OR REPLACE FUNCTION app_write_counters(p json, p_at timestamptz) RETURNS integer
  LANGUAGE plpgsql
  AS $$
DECLARE
  r record;
  n integer := 0;
  one integer;
BEGIN
  FOR r IN SELECT * FROM json_to_recordset(p) AS x(row_id tid, meter_id uuid, customer_id uuid, window_start timestamptz, value numeric, event_count bigint) LOOP
    UPDATE usage_aggregates a SET value = r.value, event_count = r.event_count, updated_at = p_at
      WHERE a.ctid = r.row_id AND a.meter_id = r.meter_id AND a.customer_id = r.customer_id
        AND a.window = 'period' AND a.window_start = r.window_start;
    GET DIAGNOSTICS one = ROW_COUNT;
    n := n + one;
  END LOOP;
  RETURN n;
END
$$;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app_write_counters(json, timestamptz) TO staryer_app;
