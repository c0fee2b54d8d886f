CREATE TYPE "public"."alert_kind" AS ENUM('soft_limit_reached', 'hard_limit_reached', 'overage_started', 'threshold_reached');--> statement-breakpoint
CREATE TYPE "public"."alert_status" AS ENUM('open', 'acknowledged', 'resolved');--> statement-breakpoint
CREATE TYPE "public"."email_recipient" AS ENUM('creator', 'customer');--> statement-breakpoint
CREATE TYPE "public"."email_status" AS ENUM('pending', 'sent', 'outbox', 'failed');--> statement-breakpoint
CREATE TYPE "public"."webhook_message_status" AS ENUM('pending', 'delivered', 'failed');--> statement-breakpoint
CREATE TABLE "alert_mutes" (
	"creator_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "alert_mutes_pkey" PRIMARY KEY("creator_id","meter_id","customer_id")
);
--> statement-breakpoint
CREATE TABLE "email_messages" (
	"creator_id" uuid NOT NULL,
	"email_id" uuid NOT NULL,
	"alert_id" uuid,
	"recipient" "email_recipient" NOT NULL,
	"to_address" text NOT NULL,
	"subject" text NOT NULL,
	"text_body" text NOT NULL,
	"html_body" text NOT NULL,
	"status" "email_status" DEFAULT 'pending' NOT NULL,
	"error" text,
	"sent_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "email_messages_pkey" PRIMARY KEY("creator_id","email_id")
);
--> statement-breakpoint
CREATE TABLE "rollup_batches" (
	"creator_id" uuid NOT NULL,
	"batch_id" text NOT NULL,
	"applied_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rollup_batches_pkey" PRIMARY KEY("creator_id","batch_id")
);
--> statement-breakpoint
CREATE TABLE "usage_alerts" (
	"creator_id" uuid NOT NULL,
	"alert_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"kind" "alert_kind" NOT NULL,
	"threshold" numeric NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"period_end" timestamp with time zone NOT NULL,
	"used" numeric NOT NULL,
	"limit_value" numeric NOT NULL,
	"status" "alert_status" DEFAULT 'open' NOT NULL,
	"acknowledged_at" timestamp with time zone,
	"acknowledged_by" text,
	"resolved_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_alerts_pkey" PRIMARY KEY("creator_id","alert_id")
);
--> statement-breakpoint
CREATE TABLE "usage_dimension_aggregates" (
	"creator_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"window" "aggregate_window" NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"dimension" text NOT NULL,
	"dimension_value" text NOT NULL,
	"value" numeric DEFAULT '0' NOT NULL,
	"event_count" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_dimension_aggregates_pkey" PRIMARY KEY("creator_id","meter_id","customer_id","window","window_start","dimension","dimension_value")
);
--> statement-breakpoint
CREATE TABLE "webhook_attempts" (
	"creator_id" uuid NOT NULL,
	"attempt_id" uuid NOT NULL,
	"message_id" text NOT NULL,
	"endpoint_id" uuid NOT NULL,
	"attempted_at" timestamp with time zone DEFAULT now() NOT NULL,
	"status_code" integer,
	"latency_ms" integer NOT NULL,
	"response_snippet" text,
	"error" text,
	CONSTRAINT "webhook_attempts_pkey" PRIMARY KEY("creator_id","attempt_id")
);
--> statement-breakpoint
CREATE TABLE "webhook_endpoints" (
	"creator_id" uuid NOT NULL,
	"endpoint_id" uuid NOT NULL,
	"url" text NOT NULL,
	"event_types" text[] NOT NULL,
	"secret" text NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"disabled_reason" text,
	"failing_since" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY("creator_id","endpoint_id")
);
--> statement-breakpoint
CREATE TABLE "webhook_messages" (
	"creator_id" uuid NOT NULL,
	"message_id" text NOT NULL,
	"endpoint_id" uuid NOT NULL,
	"alert_id" uuid,
	"event_type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" "webhook_message_status" DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone,
	"delivered_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhook_messages_pkey" PRIMARY KEY("creator_id","message_id")
);
--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "alert_email" text;--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "alert_email_kinds" text[] DEFAULT '{soft_limit_reached,hard_limit_reached,overage_started,threshold_reached}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "email_customers" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "creator_settings" ADD COLUMN "upgrade_url" text;--> statement-breakpoint
ALTER TABLE "usage_events" ADD COLUMN "new_distinct" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_meters" ADD COLUMN "alert_thresholds" numeric[] DEFAULT '{}'::numeric[] NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_meters" ADD COLUMN "rollup_dimensions" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_creator_id_creators_creator_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."creators"("creator_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "email_messages_alert_recipient_key" ON "email_messages" USING btree ("creator_id","alert_id","recipient");--> statement-breakpoint
CREATE INDEX "email_messages_created_idx" ON "email_messages" USING btree ("creator_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_alerts_once_key" ON "usage_alerts" USING btree ("creator_id","meter_id","customer_id","period_start","kind","threshold");--> statement-breakpoint
CREATE INDEX "usage_alerts_list_idx" ON "usage_alerts" USING btree ("creator_id","status","created_at");--> statement-breakpoint
CREATE INDEX "usage_dimension_aggregates_meter_idx" ON "usage_dimension_aggregates" USING btree ("creator_id","meter_id","window","window_start","dimension");--> statement-breakpoint
CREATE INDEX "webhook_attempts_message_idx" ON "webhook_attempts" USING btree ("creator_id","message_id","attempted_at");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_messages_alert_endpoint_key" ON "webhook_messages" USING btree ("creator_id","alert_id","endpoint_id");--> statement-breakpoint
CREATE INDEX "webhook_messages_endpoint_idx" ON "webhook_messages" USING btree ("creator_id","endpoint_id","created_at");