-- requests_daily (internal): the requests summed by day and by every attribute the
-- aggregate steps group or filter by, so that they read a few hundred rows instead of
-- every request (cache_hit_ratio, cost_attribution, reconciliation, the decision steps,
-- the recommendation rules and the report). Every column is a count, a sum, a MIN or a
-- MAX, which re-aggregate exactly: SUM(requests) over any of these keys is COUNT(*) over
-- the requests, SUM(cost_usd) is the same decimal sum. The boolean keys split what the
-- consumers filter row by row: priced (cost_usd IS NOT NULL) and writes_cache
-- (cache_write_tokens > 0). hour_of_day (0–23, UTC) splits each day by hour, so the
-- break-even can size self-hosting from the busy hours (its p95 hour), not the day.
--
-- Input: requests (the window's; the decision steps read the same rollup over their
-- lookback, pipeline/analyze/history.rs).
SELECT
    date, CAST(date_part('hour', ts) AS BIGINT) AS hour_of_day, source, team, feature, provider, model, deployment, pool, price_id, batch, status,
    cost_usd IS NOT NULL AS priced,
    cache_write_tokens > 0 AS writes_cache,
    COUNT(*) AS requests,
    COUNT(user_id) AS requests_with_user,
    SUM(CASE WHEN cache_read_tokens > 0 THEN 1 ELSE 0 END) AS requests_with_hit,
    SUM(input_tokens) AS input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(cache_write_tokens) AS cache_write_tokens,
    SUM(cache_write_1h_tokens) AS cache_write_1h_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(reasoning_tokens) AS reasoning_tokens,
    SUM(cost_usd) AS cost_usd,
    SUM(cache_saved_usd) AS cache_saved_usd,
    SUM(cache_write_premium_usd) AS cache_write_premium_usd,
    MIN(ts) AS first_ts,
    MAX(ts) AS last_ts
FROM requests
GROUP BY date, CAST(date_part('hour', ts) AS BIGINT), source, team, feature, provider, model, deployment, pool, price_id, batch, status,
         cost_usd IS NOT NULL, cache_write_tokens > 0
