-- Idempotency answers are stored as sent (json, text) rather than converted to jsonb:
-- nothing queries inside them, a replay sends them back as they are, and the conversion
-- was ~40 % of the cost of storing a key (BENCHMARKS.md, round 5). The table is rewritten
-- once; jsonb to json is an assignment cast.
ALTER TABLE "usage_idempotency_keys" ALTER COLUMN "response" SET DATA TYPE json;
