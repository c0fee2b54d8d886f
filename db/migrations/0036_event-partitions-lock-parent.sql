-- app_ensure_usage_event_partitions (0034) locks usage_events itself before it moves a month's
-- early rows out of the default partition and attaches the month: a rollups.apply statement
-- planned while it ran (on the old partition list) and waiting for the default partition read
-- none of the moved events once it went on, and its job committed without them (found by a
-- review: the customer's hour and day windows short of the events). New partitions are made
-- once a month, so ingestion waiting on this lock for the function's few milliseconds is rare.
CREATE OR REPLACE FUNCTION app_ensure_usage_event_partitions(p_from timestamptz, p_to timestamptz, OUT created integer, OUT failed text[])
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
        -- The parent first (migration 0036): a statement on usage_events planned before the
        -- new partition is attached, and waiting for the default partition, would read neither
        -- the moved rows (gone from the default) nor the new partition (not in its plan) — a
        -- rollup job then committed without its events. Holding the parent, nothing is planned
        -- on the old partition list while rows move; a statement already under way finishes first.
        LOCK TABLE usage_events IN ACCESS EXCLUSIVE MODE;
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
