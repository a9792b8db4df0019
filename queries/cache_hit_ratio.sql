-- cache_hit_ratio: prompt-cache use by date × provider × model × team × feature.
--
-- Input: requests (summed by day in requests_daily). hit_ratio = cache_read_tokens / input_tokens, where input_tokens is
-- every prompt token (uncached + cache read + cache write, whatever the provider's own
-- counting). cache_saved_usd is what cache reads saved against the uncached input price;
-- cache_write_premium_usd is what cache writes cost above it (Anthropic bills writes at
-- 1.25× or 2× input). Users quote: under 20% is expensive, 30–50% typical.
SELECT
    date,
    provider,
    model,
    team,
    feature,
    -- COALESCE only keeps the column non-NULL in the schema, as COUNT(*) was: a group
    -- always has requests.
    COALESCE(SUM(requests), 0) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(cache_write_tokens) AS cache_write_tokens,
    CASE WHEN SUM(input_tokens) > 0
         THEN CAST(SUM(cache_read_tokens) AS DOUBLE) / CAST(SUM(input_tokens) AS DOUBLE)
    END AS hit_ratio,
    SUM(requests_with_hit) AS requests_with_hit,
    SUM(cache_saved_usd) AS cache_saved_usd,
    SUM(cache_write_premium_usd) AS cache_write_premium_usd,
    SUM(cost_usd) AS cost_usd
FROM requests_daily
GROUP BY date, provider, model, team, feature
ORDER BY date, provider, model, team, feature
