-- The partition job's locks on usage_events (0036) wait at most 1 s: queued behind a long
-- reader of the table (pg_dump, a consistency check), its ACCESS EXCLUSIVE request held every
-- insert behind it — all ingestion stopped for as long as the reader ran (found by a review).
-- Past the timeout the month is reported failed and made at the next run; its events wait in
-- the default partition meanwhile, as they do before any partition exists. The setting holds
-- inside the function only.
ALTER FUNCTION app_ensure_usage_event_partitions(timestamptz, timestamptz) SET lock_timeout = '1s';
