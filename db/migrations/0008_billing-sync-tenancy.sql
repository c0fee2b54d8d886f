-- The Stripe reporting ledger: forced RLS like every tenant table.
SELECT app_enable_tenant_rls('usage_billing_sync');
--> statement-breakpoint
-- An audit ledger: rows change status, never disappear.
REVOKE DELETE, TRUNCATE ON usage_billing_sync FROM staryer_app;
