-- api_daily_spend (internal): priced API spend per day × team × feature × model, with the
-- token counts behind it, from requests_daily_trailing (the requests summed by day, as
-- requests_daily, of the window and the published requests of the 28 days before it, or
-- from the month's first day; in `sql`, every request). What spend_anomalies and
-- spend_forecast read.
SELECT date, COALESCE(team, '-') AS team, COALESCE(feature, '-') AS feature, model,
       SUM(cost_usd) AS cost_usd,
       -- COALESCE only keeps the column non-NULL in the schema, as COUNT(*) was.
       COALESCE(SUM(requests), 0) AS requests,
       SUM(input_tokens - cache_read_tokens) AS uncached_tokens,
       SUM(cache_read_tokens) AS cache_read_tokens, SUM(output_tokens) AS output_tokens
FROM requests_daily_trailing
WHERE pool IS NULL AND priced AND model IS NOT NULL
GROUP BY 1, 2, 3, 4
