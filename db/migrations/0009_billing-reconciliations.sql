CREATE TABLE "usage_billing_reconciliations" (
	"creator_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"period_end" timestamp with time zone NOT NULL,
	"our_quantity" numeric NOT NULL,
	"reported_quantity" numeric NOT NULL,
	"stripe_quantity" numeric,
	"drift" numeric,
	"error" text,
	"action" text DEFAULT 'none' NOT NULL,
	"checked_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_billing_reconciliations_pkey" PRIMARY KEY("creator_id","meter_id","customer_id","period_start")
);
