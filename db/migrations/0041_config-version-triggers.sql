-- A creator's configuration version (creator_config_versions, see db/schema.ts): raised in the
-- changing transaction by every change to what ingestion judges events by, whichever path makes
-- it (the API, the billing webhooks, the demo seed, an operator's SQL). The group commit reads it
-- under the creator's configuration lock and, while it is unchanged, judges by the meters, limits,
-- customers and settings it holds in memory instead of reading them again for every group.
-- SECURITY DEFINER: the row is written as the owner, whatever tenant the session has set.
SELECT app_enable_tenant_rls('creator_config_versions');
--> statement-breakpoint
CREATE OR REPLACE FUNCTION app_raise_config_version() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
DECLARE
  v_creator uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.creator_id ELSE NEW.creator_id END;
BEGIN
  INSERT INTO creator_config_versions AS v (creator_id, version) VALUES (v_creator, 1)
  ON CONFLICT (creator_id) DO UPDATE SET version = v.version + 1;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER usage_meters_config_version AFTER INSERT OR UPDATE OR DELETE ON usage_meters
  FOR EACH ROW EXECUTE FUNCTION app_raise_config_version();
--> statement-breakpoint
CREATE TRIGGER meter_plan_limits_config_version AFTER INSERT OR UPDATE OR DELETE ON meter_plan_limits
  FOR EACH ROW EXECUTE FUNCTION app_raise_config_version();
--> statement-breakpoint
-- A customer's plan and anchor (its counters' periods) are judged by; its email or name are not.
-- A new customer is not: one missing from the memory is read.
CREATE TRIGGER customers_config_version AFTER UPDATE ON customers
  FOR EACH ROW WHEN (OLD.plan_name IS DISTINCT FROM NEW.plan_name OR OLD.billing_anchor IS DISTINCT FROM NEW.billing_anchor
                     OR OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
  EXECUTE FUNCTION app_raise_config_version();
--> statement-breakpoint
CREATE TRIGGER customers_deleted_config_version AFTER DELETE ON customers
  FOR EACH ROW EXECUTE FUNCTION app_raise_config_version();
--> statement-breakpoint
CREATE TRIGGER creator_settings_config_version AFTER UPDATE ON creator_settings
  FOR EACH ROW WHEN (OLD.default_plan IS DISTINCT FROM NEW.default_plan OR OLD.late_event_grace_hours IS DISTINCT FROM NEW.late_event_grace_hours)
  EXECUTE FUNCTION app_raise_config_version();
--> statement-breakpoint
CREATE TRIGGER creator_settings_written_config_version AFTER INSERT OR DELETE ON creator_settings
  FOR EACH ROW EXECUTE FUNCTION app_raise_config_version();
