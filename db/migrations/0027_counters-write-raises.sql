-- app_write_counters (0018) counted the counters it wrote and left the caller to compare the
-- count. But the caller queues COMMIT right behind the write statement (ADR 0009), so a
-- mismatch found afterwards could not stop the commit: the group's events and answers would
-- commit without their counter update, and the group would then be committed again. A
-- counter that is not where its lock found it now fails the statement itself, and with it
-- the transaction: nothing of the group commits.
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
    IF one <> 1 THEN
      RAISE EXCEPTION 'period counter of meter % and customer % (period from %) changed under its lock: % rows written', r.meter_id, r.customer_id, r.window_start, one
        USING ERRCODE = 'XX000';
    END IF;
    n := n + one;
  END LOOP;
  RETURN n;
END
$$;
