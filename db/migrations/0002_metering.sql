CREATE TYPE "public"."aggregate_window" AS ENUM('period', 'hour', 'day');--> statement-breakpoint
CREATE TYPE "public"."aggregation_type" AS ENUM('count', 'sum', 'max', 'unique', 'duration');--> statement-breakpoint
CREATE TYPE "public"."billing_model" AS ENUM('metered', 'licensed');--> statement-breakpoint
CREATE TABLE "creator_settings" (
	"creator_id" uuid PRIMARY KEY NOT NULL,
	"default_plan" text,
	"late_event_grace_hours" integer DEFAULT 24 NOT NULL,
	"token_secret" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "customer_plan_changes" (
	"creator_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"plan_name" text,
	"effective_from" timestamp with time zone NOT NULL,
	CONSTRAINT "customer_plan_changes_pkey" PRIMARY KEY("creator_id","customer_id","effective_from")
);
--> statement-breakpoint
CREATE TABLE "customers" (
	"creator_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"user_id" text NOT NULL,
	"plan_name" text,
	"email" text,
	"name" text,
	"billing_anchor" timestamp with time zone,
	"stripe_customer_id" text,
	"stripe_subscription_items" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"tenant_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customers_pkey" PRIMARY KEY("creator_id","customer_id")
);
--> statement-breakpoint
CREATE TABLE "meter_plan_limits" (
	"creator_id" uuid NOT NULL,
	"limit_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"plan_name" text NOT NULL,
	"limit_value" numeric,
	"overage_price" numeric,
	"soft_limit_threshold" numeric,
	"hard_cap" boolean DEFAULT false NOT NULL,
	"effective_from" timestamp with time zone NOT NULL,
	"effective_to" timestamp with time zone,
	CONSTRAINT "meter_plan_limits_pkey" PRIMARY KEY("creator_id","limit_id")
);
--> statement-breakpoint
CREATE TABLE "usage_aggregates" (
	"creator_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"window" "aggregate_window" NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"value" numeric DEFAULT '0' NOT NULL,
	"event_count" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_aggregates_pkey" PRIMARY KEY("creator_id","meter_id","customer_id","window","window_start")
);
--> statement-breakpoint
CREATE TABLE "usage_events" (
	"creator_id" uuid NOT NULL,
	"event_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"event_name" text NOT NULL,
	"user_id" text NOT NULL,
	"value" numeric NOT NULL,
	"properties" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"idempotency_key" text,
	"period_start" timestamp with time zone NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_events_pkey" PRIMARY KEY("creator_id","event_id","occurred_at")
) PARTITION BY RANGE ("occurred_at");
--> statement-breakpoint
CREATE TABLE "usage_idempotency_keys" (
	"creator_id" uuid NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"event_id" uuid NOT NULL,
	"status" integer NOT NULL,
	"response" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_idempotency_keys_pkey" PRIMARY KEY("creator_id","idempotency_key")
);
--> statement-breakpoint
CREATE TABLE "usage_meters" (
	"creator_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"event_name" text NOT NULL,
	"display_name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"aggregation_type" "aggregation_type" NOT NULL,
	"unit_name" text NOT NULL,
	"billing_model" "billing_model" DEFAULT 'metered' NOT NULL,
	"unique_property" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"archived_at" timestamp with time zone,
	CONSTRAINT "usage_meters_pkey" PRIMARY KEY("creator_id","meter_id")
);
--> statement-breakpoint
CREATE TABLE "usage_unique_values" (
	"creator_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"value" text NOT NULL,
	CONSTRAINT "usage_unique_values_pkey" PRIMARY KEY("creator_id","meter_id","customer_id","period_start","value")
);
--> statement-breakpoint
ALTER TABLE "creator_settings" ADD CONSTRAINT "creator_settings_creator_id_creators_creator_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."creators"("creator_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customers" ADD CONSTRAINT "customers_creator_id_creators_creator_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."creators"("creator_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage_meters" ADD CONSTRAINT "usage_meters_creator_id_creators_creator_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."creators"("creator_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "customers_user_id_key" ON "customers" USING btree ("creator_id","user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "meter_plan_limits_current_key" ON "meter_plan_limits" USING btree ("creator_id","meter_id","plan_name") WHERE effective_to is null;--> statement-breakpoint
CREATE INDEX "meter_plan_limits_meter_idx" ON "meter_plan_limits" USING btree ("creator_id","meter_id","plan_name","effective_from");--> statement-breakpoint
CREATE INDEX "usage_aggregates_meter_window_idx" ON "usage_aggregates" USING btree ("creator_id","meter_id","window","window_start");--> statement-breakpoint
CREATE INDEX "usage_events_meter_customer_time_idx" ON "usage_events" USING btree ("creator_id","meter_id","customer_id","occurred_at");--> statement-breakpoint
CREATE INDEX "usage_events_creator_time_idx" ON "usage_events" USING btree ("creator_id","occurred_at");--> statement-breakpoint
CREATE INDEX "usage_events_customer_time_idx" ON "usage_events" USING btree ("creator_id","customer_id","occurred_at");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_meters_event_name_key" ON "usage_meters" USING btree ("creator_id","event_name") WHERE archived_at is null;