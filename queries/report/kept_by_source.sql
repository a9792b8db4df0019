-- Rows kept per source after deduplication (staged rows minus these are duplicates).
SELECT source, SUM(requests) AS rows_kept
FROM requests_daily
GROUP BY source
ORDER BY source
