-- Each pool's utilisation by day and hour of day (UTC), for report.html's heatmaps.
SELECT pool, date, CAST(date_part('hour', hour) AS BIGINT) AS h, utilization
FROM hourly_utilization
WHERE utilization IS NOT NULL
ORDER BY pool, date, h
