-- The API prompt-cache hit ratio by day, for report.html's line chart.
SELECT date, CAST(SUM(cache_read_tokens) AS DOUBLE) / CAST(SUM(input_tokens) AS DOUBLE) AS ratio
FROM requests_daily
WHERE pool IS NULL
GROUP BY date
HAVING SUM(input_tokens) > 0
ORDER BY date
