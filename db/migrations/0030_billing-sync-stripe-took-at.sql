ALTER TABLE "usage_billing_sync" ADD COLUMN "first_sent_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "usage_billing_sync" ADD COLUMN "stripe_took_at" timestamp with time zone;