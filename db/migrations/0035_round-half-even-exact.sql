-- 0033's app_round_half_even divided by 10^places at Postgres's default division scale (about 16
-- significant digits), so from about 1e8 up the 9th decimal was lost: 123456789.123456789 came
-- back as 123456789.123456790 (the overview's overage and the revenue page then owed another
-- figure than the customer's own usage answer). Multiplying by 10^-places is exact.
CREATE OR REPLACE FUNCTION app_round_half_even(v numeric, places integer) RETURNS numeric
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$
    SELECT round(
      CASE WHEN abs(s.scaled - trunc(s.scaled)) = 0.5 AND mod(trunc(s.scaled), 2) = 0 THEN trunc(s.scaled) ELSE round(s.scaled) END
        * power(10::numeric, -places),
      places)
    FROM (SELECT v * power(10::numeric, places) AS scaled) s
  $$;
