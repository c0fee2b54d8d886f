-- Metering tables: forced RLS on each, append-only raw events, monthly partitions.

SELECT app_enable_tenant_rls('creator_settings');
--> statement-breakpoint
SELECT app_enable_tenant_rls('usage_meters');
--> statement-breakpoint
SELECT app_enable_tenant_rls('meter_plan_limits');
--> statement-breakpoint
SELECT app_enable_tenant_rls('customers');
--> statement-breakpoint
SELECT app_enable_tenant_rls('customer_plan_changes');
--> statement-breakpoint
SELECT app_enable_tenant_rls('usage_events');
--> statement-breakpoint
SELECT app_enable_tenant_rls('usage_idempotency_keys');
--> statement-breakpoint
SELECT app_enable_tenant_rls('usage_aggregates');
--> statement-breakpoint
SELECT app_enable_tenant_rls('usage_unique_values');
--> statement-breakpoint
-- Raw events are append-only for the application.
REVOKE UPDATE, DELETE, TRUNCATE ON usage_events FROM staryer_app;
--> statement-breakpoint
-- Monthly partitions [first of month, first of next month), named usage_events_yYYYYmMM,
-- each with the tenant policy too (defence in depth: the app only queries the parent).
-- The default partition catches anything outside the created range so an insert never
-- fails; the maintenance job creates months ahead, so it stays empty in practice.
CREATE OR REPLACE FUNCTION app_ensure_usage_event_partitions(p_from timestamptz, p_to timestamptz) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
DECLARE
  month_start timestamptz := date_trunc('month', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  part text;
  created integer := 0;
BEGIN
  WHILE month_start < p_to LOOP
    part := format('usage_events_y%sm%s', to_char(month_start AT TIME ZONE 'UTC', 'YYYY'), to_char(month_start AT TIME ZONE 'UTC', 'MM'));
    IF to_regclass(part) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
        part, month_start, month_start + interval '1 month');
      PERFORM app_enable_tenant_rls(part::regclass);
      created := created + 1;
    END IF;
    month_start := month_start + interval '1 month';
  END LOOP;
  RETURN created;
END
$$;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS usage_events_default PARTITION OF usage_events DEFAULT;
--> statement-breakpoint
SELECT app_enable_tenant_rls('usage_events_default');
--> statement-breakpoint
SELECT app_ensure_usage_event_partitions(now() - interval '3 months', now() + interval '13 months');
--> statement-breakpoint
REVOKE ALL ON FUNCTION app_ensure_usage_event_partitions(timestamptz, timestamptz) FROM PUBLIC;
