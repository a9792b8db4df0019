-- Prompt caching by provider and model, all dates of the run together.
SELECT
    provider,
    model,
    SUM(requests) AS requests,
    SUM(input_tokens) AS input_tokens,
    CASE WHEN SUM(input_tokens) > 0
         THEN CAST(SUM(cache_read_tokens) AS DOUBLE) / CAST(SUM(input_tokens) AS DOUBLE)
    END AS hit_ratio,
    SUM(cache_saved_usd) AS cache_saved_usd,
    SUM(cache_write_premium_usd) AS cache_write_premium_usd,
    SUM(cost_usd) AS cost_usd
FROM cache_hit_ratio
GROUP BY provider, model
ORDER BY cost_usd DESC NULLS LAST, provider, model
