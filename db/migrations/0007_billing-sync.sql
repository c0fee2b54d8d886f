CREATE TYPE "public"."billing_sync_status" AS ENUM('pending', 'in_flight', 'succeeded', 'failed', 'unknown');--> statement-breakpoint
CREATE TABLE "usage_billing_sync" (
	"creator_id" uuid NOT NULL,
	"sync_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"period_end" timestamp with time zone NOT NULL,
	"sequence" integer NOT NULL,
	"quantity_delta" numeric NOT NULL,
	"cumulative_total" numeric NOT NULL,
	"identifier" text NOT NULL,
	"event_timestamp" timestamp with time zone NOT NULL,
	"stripe_event_name" text NOT NULL,
	"stripe_customer_id" text NOT NULL,
	"stripe_account_id" text,
	"stripe_subscription_item_id" text,
	"status" "billing_sync_status" DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"stripe_request_id" text,
	"next_attempt_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"reported_at" timestamp with time zone,
	CONSTRAINT "usage_billing_sync_pkey" PRIMARY KEY("creator_id","sync_id")
);
--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "stripe_secret_key_encrypted" text;--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "stripe_connect_account_id" text;--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "stripe_report_interval_minutes" integer DEFAULT 5 NOT NULL;--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "stripe_last_report_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "usage_meters" ADD COLUMN "stripe_meter_event_name" text;--> statement-breakpoint
ALTER TABLE "usage_meters" ADD COLUMN "stripe_meter_id" text;--> statement-breakpoint
CREATE UNIQUE INDEX "usage_billing_sync_identifier_key" ON "usage_billing_sync" USING btree ("creator_id","identifier");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_billing_sync_sequence_key" ON "usage_billing_sync" USING btree ("creator_id","meter_id","customer_id","period_start","sequence");--> statement-breakpoint
CREATE INDEX "usage_billing_sync_open_idx" ON "usage_billing_sync" USING btree ("creator_id","status") WHERE status in ('pending', 'in_flight', 'unknown');