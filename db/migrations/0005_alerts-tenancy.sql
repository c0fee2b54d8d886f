-- Alerts, notifications and rollups: forced RLS on every new tenant table.
SELECT app_enable_tenant_rls('usage_dimension_aggregates');
--> statement-breakpoint
SELECT app_enable_tenant_rls('rollup_batches');
--> statement-breakpoint
SELECT app_enable_tenant_rls('usage_alerts');
--> statement-breakpoint
SELECT app_enable_tenant_rls('alert_mutes');
--> statement-breakpoint
SELECT app_enable_tenant_rls('webhook_endpoints');
--> statement-breakpoint
SELECT app_enable_tenant_rls('webhook_messages');
--> statement-breakpoint
SELECT app_enable_tenant_rls('webhook_attempts');
--> statement-breakpoint
SELECT app_enable_tenant_rls('email_messages');
--> statement-breakpoint
-- Delivery logs are append-only for the application.
REVOKE UPDATE, DELETE, TRUNCATE ON webhook_attempts FROM staryer_app;
