ALTER TABLE "email_messages" ADD COLUMN "sending_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "usage_billing_sync" ADD COLUMN "sending_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "webhook_messages" ADD COLUMN "sending_until" timestamp with time zone;