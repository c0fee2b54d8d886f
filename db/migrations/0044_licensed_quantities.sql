CREATE TABLE "usage_billing_quantities" (
	"creator_id" uuid NOT NULL,
	"quantity_id" uuid NOT NULL,
	"meter_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"period_end" timestamp with time zone NOT NULL,
	"sequence" integer NOT NULL,
	"usage" numeric NOT NULL,
	"quantity" bigint NOT NULL,
	"stripe_subscription_item_id" text NOT NULL,
	"stripe_account_id" text,
	"idempotency_key" text NOT NULL,
	"status" "billing_sync_status" DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"stripe_request_id" text,
	"stripe_quantity" bigint,
	"sending_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"reported_at" timestamp with time zone,
	CONSTRAINT "usage_billing_quantities_pkey" PRIMARY KEY("creator_id","quantity_id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "usage_billing_quantities_sequence_key" ON "usage_billing_quantities" USING btree ("creator_id","meter_id","customer_id","sequence");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_billing_quantities_idempotency_key" ON "usage_billing_quantities" USING btree ("creator_id","idempotency_key");--> statement-breakpoint
-- Licensed meters' quantity sets: forced RLS like every tenant table (ADR 0003).
SELECT app_enable_tenant_rls('usage_billing_quantities');
--> statement-breakpoint
-- An audit ledger: rows change status, never disappear.
REVOKE DELETE, TRUNCATE ON usage_billing_quantities FROM staryer_app;
