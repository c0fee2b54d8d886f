-- A group judged from what the server keeps in memory (the creator's configuration at a version,
-- its counters' values as last committed) sends its writes without reading first: one round trip.
-- These two functions are what makes that safe: each checks, under the lock that keeps it true
-- until commit, what the judgement assumed, and fails the statement — so the transaction, which
-- the server then commits the usual way, reading first — when it does not hold.

-- The creator's configuration lock, shared (as startIngestTransaction takes it), and then, in a
-- statement of its own (a VOLATILE function's statements each take a new snapshot: this one sees
-- every change committed before the lock was granted), its configuration version as expected.
CREATE OR REPLACE FUNCTION app_ingest_guard(p_creator uuid, p_version bigint) RETURNS boolean
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  v_version bigint;
BEGIN
  IF NOT pg_try_advisory_xact_lock_shared(hashtextextended('config|' || p_creator::text, 0)) THEN
    RAISE EXCEPTION 'the configuration of creator % is being changed', p_creator USING ERRCODE = 'SU001';
  END IF;
  SELECT version INTO v_version FROM creator_config_versions WHERE creator_id = p_creator;
  IF coalesce(v_version, 0) <> p_version THEN
    RAISE EXCEPTION 'the configuration of creator % changed (version % instead of %)', p_creator, coalesce(v_version, 0), p_version USING ERRCODE = 'SU001';
  END IF;
  RETURN true;
END
$$;
--> statement-breakpoint
-- Period counters written from the values the judgement started from: each is locked (one
-- primary-key probe, in the order given: the caller sorts) and written only if it still holds
-- `expected` — the latest committed value, as a row lock sees it — to `value`, its event count
-- raised by `events`. Any counter missing or changed fails the statement.
CREATE OR REPLACE FUNCTION app_write_counters_unchanged(p json, p_creator uuid, p_at timestamptz) RETURNS integer
  LANGUAGE plpgsql
  AS $$
DECLARE
  v_expected integer := json_array_length(p);
  n integer;
BEGIN
  WITH locked AS (
    SELECT c.row_id, r.value, r.events
    FROM json_to_recordset(p) AS r(meter_id uuid, customer_id uuid, window_start timestamptz, expected numeric, value numeric, events bigint)
    CROSS JOIN LATERAL (
      SELECT a.ctid AS row_id, a.value
      FROM usage_aggregates a
      WHERE a.creator_id = p_creator AND a.meter_id = r.meter_id AND a.customer_id = r.customer_id
        AND a.window = 'period' AND a.window_start = r.window_start
      FOR UPDATE
    ) c
    WHERE c.value = r.expected
  )
  UPDATE usage_aggregates a SET value = l.value, event_count = a.event_count + l.events, updated_at = p_at
    FROM locked l
    WHERE a.ctid = l.row_id;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> v_expected THEN
    RAISE EXCEPTION 'period counters changed since they were read: % of % unchanged', n, v_expected USING ERRCODE = 'SU002';
  END IF;
  RETURN n;
END
$$;
