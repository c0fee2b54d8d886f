-- Reconciliation results: forced RLS like every tenant table.
SELECT app_enable_tenant_rls('usage_billing_reconciliations');
