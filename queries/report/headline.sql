-- Headline figures of a run over its API requests (self-hosted requests, whose cost is in
-- the GPU bill and whose logs carry no cache counts, are counted apart).
SELECT
    COALESCE(SUM(requests), 0) AS requests,
    MIN(first_ts) AS first_request,
    MAX(last_ts) AS last_request,
    SUM(cost_usd) AS cost_usd,
    SUM(CASE WHEN NOT priced THEN requests ELSE 0 END) AS unpriced_requests,
    SUM(input_tokens) AS input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(output_tokens) AS output_tokens,
    CASE WHEN SUM(input_tokens) > 0
         THEN CAST(SUM(cache_read_tokens) AS DOUBLE) / CAST(SUM(input_tokens) AS DOUBLE)
    END AS hit_ratio,
    SUM(cache_saved_usd) AS cache_saved_usd,
    SUM(cache_write_premium_usd) AS cache_write_premium_usd,
    (SELECT COALESCE(SUM(requests), 0) FROM requests_daily WHERE pool IS NOT NULL) AS self_hosted_requests
FROM requests_daily
WHERE pool IS NULL
