CREATE TABLE "stripe_webhook_events" (
	"creator_id" uuid NOT NULL,
	"event_id" text NOT NULL,
	"type" text NOT NULL,
	"event_created" timestamp with time zone NOT NULL,
	"outcome" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stripe_webhook_events_pkey" PRIMARY KEY("creator_id","event_id")
);
--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "stripe_webhook_secret_encrypted" text;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "stripe_subscription_id" text;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "stripe_subscription_status" text;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "stripe_subscription_event_at" timestamp with time zone;