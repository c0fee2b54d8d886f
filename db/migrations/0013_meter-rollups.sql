CREATE TABLE "usage_meter_rollups" (
	"creator_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"grain" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"dimension" text NOT NULL,
	"dimension_value" text NOT NULL,
	"value" numeric DEFAULT '0' NOT NULL,
	"event_count" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_meter_rollups_pkey" PRIMARY KEY("creator_id","grain","window_start","meter_id","dimension","dimension_value")
);
--> statement-breakpoint
CREATE INDEX "usage_meter_rollups_meter_idx" ON "usage_meter_rollups" USING btree ("creator_id","meter_id","grain","dimension","window_start");