-- A Connect account is reached with the platform key, which acts on any account of the
-- platform: it may belong to one creator only. An account connected to several creators
-- before this (none of them proved it theirs) is disconnected from all of them; each
-- connects again, and only one can.
UPDATE "creator_settings" SET "stripe_connect_account_id" = NULL
WHERE "stripe_connect_account_id" IN (
  SELECT "stripe_connect_account_id" FROM "creator_settings"
  WHERE "stripe_connect_account_id" IS NOT NULL GROUP BY 1 HAVING count(*) > 1
);--> statement-breakpoint
CREATE UNIQUE INDEX "creator_settings_stripe_connect_account_key" ON "creator_settings" USING btree ("stripe_connect_account_id");
