-- cost_attribution: all AI spend by date × team × feature × provider × model × deployment
-- (× pool for self-hosted spend): API requests priced per token (cost_usd), and GPU spend
-- (gpu_cost_usd) attributed from the bills: shares of pool-hours, the idle part
-- (team '__idle__') and GPU spend no pool claims (team '__unassigned__').
-- total_cost_usd = cost_usd + gpu_cost_usd. unpriced_requests counts API requests whose
-- model has no price (their cost is unknown, not zero); self-hosted requests are not
-- unpriced: their cost is in gpu_cost_usd. The API part reads requests summed by day
-- (requests_daily).
WITH api AS (
    SELECT
        date, team, feature, provider, model, deployment, pool,
        SUM(requests) AS requests,
        SUM(CASE WHEN status = 'error' THEN requests ELSE 0 END) AS failed_requests,
        SUM(input_tokens) AS input_tokens,
        SUM(input_tokens - cache_read_tokens - cache_write_tokens) AS uncached_input_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        SUM(cache_write_tokens) AS cache_write_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(reasoning_tokens) AS reasoning_tokens,
        SUM(cost_usd) AS cost_usd,
        SUM(CASE WHEN NOT priced AND pool IS NULL THEN requests ELSE 0 END) AS unpriced_requests,
        CAST(NULL AS DECIMAL(38, 12)) AS gpu_cost_usd
    FROM requests_daily
    GROUP BY date, team, feature, provider, model, deployment, pool
),
gpu AS (
    SELECT date, team, feature, provider, model, deployment, pool, gpu_cost_usd
    FROM gpu_cost_attribution
    UNION ALL
    SELECT date, '__unassigned__', CAST(NULL AS VARCHAR), provider, gpu_model, CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), cost_usd
    FROM gpu_billing_hourly
    WHERE pool IS NULL
),
combined AS (
    SELECT date, team, feature, provider, model, deployment, pool, requests, failed_requests,
           input_tokens, uncached_input_tokens, cache_read_tokens, cache_write_tokens,
           output_tokens, reasoning_tokens, cost_usd, unpriced_requests, gpu_cost_usd
    FROM api
    UNION ALL
    SELECT date, team, feature, provider, model, deployment, pool, 0, 0, 0, 0, 0, 0, 0, 0,
           CAST(NULL AS DECIMAL(38, 12)), 0, gpu_cost_usd
    FROM gpu
)
SELECT
    date, team, feature, provider, model, deployment, pool,
    SUM(requests) AS requests,
    SUM(failed_requests) AS failed_requests,
    SUM(input_tokens) AS input_tokens,
    SUM(uncached_input_tokens) AS uncached_input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(cache_write_tokens) AS cache_write_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(reasoning_tokens) AS reasoning_tokens,
    SUM(cost_usd) AS cost_usd,
    SUM(gpu_cost_usd) AS gpu_cost_usd,
    COALESCE(SUM(cost_usd), CAST(0 AS DECIMAL(38, 12))) + COALESCE(SUM(gpu_cost_usd), CAST(0 AS DECIMAL(38, 12))) AS total_cost_usd,
    SUM(unpriced_requests) AS unpriced_requests
FROM combined
GROUP BY date, team, feature, provider, model, deployment, pool
ORDER BY date, team, feature, provider, model, deployment, pool
