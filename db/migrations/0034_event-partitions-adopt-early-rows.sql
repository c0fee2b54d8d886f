-- Monthly partitions of usage_events, made so that early rows cannot stop them, and append-only
-- for the application role on every path.
--
-- 1. A month's events that arrived before its partition existed (a clock ahead, workers down
--    past the 13-month lead) sit in usage_events_default. `CREATE TABLE … PARTITION OF` then
--    fails for that month ("updated partition constraint for default partition … would be
--    violated"), and the function rolled back whole: no month ahead was made again. Now each
--    month is made standalone, that month's rows are moved into it from the default partition,
--    and then it is attached; a month that still fails is reported and the others go on.
-- 2. Partitions got migration 0001's default privileges (SELECT, INSERT, UPDATE, DELETE for
--    staryer_app), so the application could change raw events through usage_events_yYYYYmMM
--    even though UPDATE and DELETE are revoked on the parent. The application only queries the
--    parent, and Postgres checks only the parent's privileges for rows routed to or read from a
--    partition: the application role gets nothing on the partitions.
DROP FUNCTION IF EXISTS app_ensure_usage_event_partitions(timestamptz, timestamptz);
--> statement-breakpoint
-- Monthly partitions [first of month, first of next month), named usage_events_yYYYYmMM, from
-- p_from's month up to p_to. Returns how many it made, and the months it could not make with
-- the reason (each month in a subtransaction of its own: one month's trouble leaves the rest).
CREATE FUNCTION app_ensure_usage_event_partitions(p_from timestamptz, p_to timestamptz, OUT created integer, OUT failed text[])
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
DECLARE
  month_start timestamptz := date_trunc('month', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  month_end timestamptz;
  part text;
  columns text;
BEGIN
  created := 0;
  failed := ARRAY[]::text[];
  -- By name, in the parent's order: the moved rows are copied column for column.
  SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
    FROM pg_attribute WHERE attrelid = 'usage_events'::regclass AND attnum > 0 AND NOT attisdropped;
  WHILE month_start < p_to LOOP
    month_end := month_start + interval '1 month';
    part := format('usage_events_y%sm%s', to_char(month_start AT TIME ZONE 'UTC', 'YYYY'), to_char(month_start AT TIME ZONE 'UTC', 'MM'));
    IF to_regclass(part) IS NULL THEN
      BEGIN
        -- Columns, NOT NULL, defaults and CHECK constraints as the parent's; ATTACH adds the
        -- parent's indexes (primary key included).
        EXECUTE format('CREATE TABLE %I (LIKE usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
        PERFORM app_enable_tenant_rls(part::regclass);
        EXECUTE format('REVOKE ALL ON TABLE %I FROM staryer_app', part);
        -- ATTACH takes this lock anyway; taken before the move, no insert can put another of
        -- the month's rows in the default partition between the move and the attach.
        LOCK TABLE usage_events_default IN ACCESS EXCLUSIVE MODE;
        EXECUTE format(
          'WITH moved AS (DELETE FROM usage_events_default WHERE occurred_at >= %L AND occurred_at < %L RETURNING %s) INSERT INTO %I (%s) SELECT %s FROM moved',
          month_start, month_end, columns, part, columns, columns);
        EXECUTE format('ALTER TABLE usage_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, month_start, month_end);
        created := created + 1;
      EXCEPTION WHEN OTHERS THEN
        failed := failed || format('%s: %s', part, SQLERRM);
      END;
    END IF;
    month_start := month_end;
  END LOOP;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app_ensure_usage_event_partitions(timestamptz, timestamptz) FROM PUBLIC;
--> statement-breakpoint
-- The partitions made so far, the default one included.
DO $$
DECLARE
  part regclass;
BEGIN
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'usage_events'::regclass LOOP
    EXECUTE format('REVOKE ALL ON TABLE %s FROM staryer_app', part);
  END LOOP;
END
$$;
