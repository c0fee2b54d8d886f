-- `check` in one statement: the RLS tenant is set transaction-locally and the state read
-- in the same implicit transaction (a single statement sent without BEGIN/COMMIT), so a
-- check costs one statement on any pooled connection instead of BEGIN, the tenant switch,
-- the read and COMMIT on a reserved one. Runs as the caller: row-level security applies.
-- Returns the creator's default plan, the live meter with its current limits, the
-- customer, and the period counters covering p_at (db/queries/usage.ts: readCheckState).
CREATE OR REPLACE FUNCTION app_check_state(p_creator uuid, p_event text, p_user text, p_at timestamptz)
  RETURNS TABLE (default_plan text, meter json, customer json, counters json)
  LANGUAGE plpgsql
  AS $$
#variable_conflict use_column
BEGIN
  PERFORM set_config('app.creator_id', p_creator::text, true);
  RETURN QUERY
  SELECT
    (SELECT s.default_plan FROM creator_settings s WHERE s.creator_id = p_creator),
    (SELECT row_to_json(x) FROM (
       SELECT m.meter_id, m.creator_id, m.event_name, m.display_name, m.description, m.aggregation_type, m.unit_name, m.billing_model,
         m.unique_property, m.alert_thresholds::text[] AS alert_thresholds, m.rollup_dimensions, m.stripe_meter_event_name, m.stripe_meter_id,
         m.created_at, m.updated_at, m.archived_at,
         coalesce((SELECT json_agg(json_build_object('plan_name', l.plan_name, 'limit_value', l.limit_value::text, 'overage_price', l.overage_price::text,
                                                     'soft_limit_threshold', l.soft_limit_threshold::text, 'hard_cap', l.hard_cap, 'effective_from', l.effective_from)
                                   ORDER BY l.plan_name)
                   FROM meter_plan_limits l WHERE l.creator_id = m.creator_id AND l.meter_id = m.meter_id AND l.effective_to IS NULL), '[]'::json) AS limits
       FROM usage_meters m
       WHERE m.creator_id = p_creator AND m.event_name = p_event AND m.archived_at IS NULL) x),
    (SELECT json_build_object('customer_id', c.customer_id, 'plan_name', c.plan_name, 'billing_anchor', c.billing_anchor)
       FROM customers c WHERE c.creator_id = p_creator AND c.user_id = p_user),
    (SELECT coalesce(json_agg(json_build_object('window_start', a.window_start, 'value', a.value::text)), '[]'::json)
       FROM customers c
       JOIN usage_meters m ON m.creator_id = c.creator_id AND m.event_name = p_event AND m.archived_at IS NULL
       CROSS JOIN LATERAL (
         SELECT a.window_start, a.value FROM usage_aggregates a
         WHERE a.creator_id = c.creator_id AND a.meter_id = m.meter_id AND a.customer_id = c.customer_id
           AND a.window = 'period' AND a.window_start <= p_at AND a.window_end > p_at
       ) a
       WHERE c.creator_id = p_creator AND c.user_id = p_user);
END
$$;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app_check_state(uuid, text, text, timestamptz) TO staryer_app;
