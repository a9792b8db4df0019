-- api_daily_spend (internal): priced API spend per day × team × feature × model, with the
-- token counts behind it, from requests_trailing (the window and the published requests of
-- the 28 days before it, or from the month's first day; in `sql`, every request). What
-- spend_anomalies and spend_forecast read.
SELECT date, COALESCE(team, '-') AS team, COALESCE(feature, '-') AS feature, model,
       SUM(cost_usd) AS cost_usd, COUNT(*) AS requests,
       SUM(input_tokens - cache_read_tokens) AS uncached_tokens,
       SUM(cache_read_tokens) AS cache_read_tokens, SUM(output_tokens) AS output_tokens
FROM requests_trailing
WHERE pool IS NULL AND cost_usd IS NOT NULL AND model IS NOT NULL
GROUP BY 1, 2, 3, 4
