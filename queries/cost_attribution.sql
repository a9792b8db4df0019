-- cost_attribution: API spend by date × team × feature × provider × model × deployment.
--
-- Input: requests. Tokens are split by kind (uncached input, cache read, cache write,
-- output, of which reasoning). cost_usd sums priced requests; unpriced_requests counts the
-- requests whose model has no price (their cost is unknown, not zero).
SELECT
    date,
    team,
    feature,
    provider,
    model,
    deployment,
    COUNT(*) AS requests,
    SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS failed_requests,
    SUM(input_tokens) AS input_tokens,
    SUM(input_tokens - cache_read_tokens - cache_write_tokens) AS uncached_input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(cache_write_tokens) AS cache_write_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(reasoning_tokens) AS reasoning_tokens,
    SUM(cost_usd) AS cost_usd,
    SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_requests
FROM requests
GROUP BY date, team, feature, provider, model, deployment
ORDER BY date, team, feature, provider, model, deployment
