-- Interactions by tokens, in buckets of powers of two (bucket k: at least 2^k tokens), for
-- report.html's histogram.
SELECT CAST(floor(log2(CAST(GREATEST(total_tokens, 1) AS DOUBLE))) AS BIGINT) AS bucket, COUNT(*) AS n
FROM interactions
GROUP BY 1
ORDER BY 1
