-- Stripe webhook events: forced RLS like every tenant table.
SELECT app_enable_tenant_rls('stripe_webhook_events');
