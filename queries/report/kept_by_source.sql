-- Rows kept per source after deduplication (staged rows minus these are duplicates).
SELECT source, COUNT(*) AS rows_kept
FROM requests
GROUP BY source
ORDER BY source
