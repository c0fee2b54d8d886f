-- A customer's Stripe subscription interval, as its webhook carries it: periods here are
-- monthly only, so a subscription on another interval keeps its anchor and is shown as
-- unsupported on the billing status (ADR 0013, amendment of 2026-11-27 on subscription intervals).
ALTER TABLE "customers" ADD COLUMN "stripe_subscription_interval" text;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "stripe_subscription_interval_count" integer;
