-- Money and quantities are rounded half-even at 9 decimals everywhere in TypeScript (decimal.ts,
-- usage-snapshot.ts: each customer's usage answer, top users, Stripe reports). Postgres's
-- round(numeric, n) rounds halves away from zero, so a total added up in SQL (the overview's
-- overage so far, the revenue page) could differ from the customers' own figures by 1e-9 on a
-- half (0.0000000005 owed: "0" per customer, "0.000000001" on the overview). Same rule here.
CREATE OR REPLACE FUNCTION app_round_half_even(v numeric, places integer) RETURNS numeric
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$
    SELECT round(
      CASE WHEN abs(s.scaled - trunc(s.scaled)) = 0.5 AND mod(trunc(s.scaled), 2) = 0 THEN trunc(s.scaled) ELSE round(s.scaled) END
        / power(10::numeric, places),
      places)
    FROM (SELECT v * power(10::numeric, places) AS scaled) s
  $$;
