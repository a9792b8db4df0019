-- cache_opportunity: how much more prompt caching could save, by date × model × feature.
--
-- Input: requests (API only) and cache_ideal (pipeline/analyze/cache_sim.rs: the requests
-- with prompt-prefix identity, replayed; a small build side). Where requests carry
-- prompt-prefix identity (hash_ids block lists, or a prefix_hash), ideal_hit_ratio is what
-- a perfect prefix cache would have reached (no TTL, 5-minute and 1-hour TTL) against the
-- actual cache_read_tokens. Without prefix identity, the gap is estimated to
-- economics.cache_hit_target instead (method 'target'). The gap is priced per request:
-- missing cached tokens × cache_read_discount (input price − cache-read price).
WITH joined AS (
    SELECT r.date, r.model, r.feature, r.input_tokens, r.cache_read_tokens,
           c.request_id IS NOT NULL AS has_prefix,
           c.ideal_read_tokens, c.ideal_read_tokens_5m, c.ideal_read_tokens_1h,
           cache_read_discount(r.model, r.provider, r.ts) AS discount_per_token,
           CAST(round((SELECT cache_hit_target FROM economics) * r.input_tokens) AS BIGINT) AS target_read_tokens
    FROM cache_ideal c
    RIGHT JOIN requests r ON r.request_id = c.request_id
    WHERE r.pool IS NULL
)
SELECT
    date,
    model,
    feature,
    CASE WHEN bool_and(has_prefix) THEN 'prefix_identity'
         WHEN bool_or(has_prefix) THEN 'mixed'
         ELSE 'target' END AS method,
    COUNT(*) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    CAST(SUM(cache_read_tokens) AS DOUBLE) / NULLIF(CAST(SUM(input_tokens) AS DOUBLE), 0) AS actual_hit_ratio,
    CAST(SUM(ideal_read_tokens) AS DOUBLE) / NULLIF(CAST(SUM(CASE WHEN has_prefix THEN input_tokens END) AS DOUBLE), 0) AS ideal_hit_ratio,
    CAST(SUM(ideal_read_tokens_5m) AS DOUBLE) / NULLIF(CAST(SUM(CASE WHEN has_prefix THEN input_tokens END) AS DOUBLE), 0) AS ideal_hit_ratio_5m,
    CAST(SUM(ideal_read_tokens_1h) AS DOUBLE) / NULLIF(CAST(SUM(CASE WHEN has_prefix THEN input_tokens END) AS DOUBLE), 0) AS ideal_hit_ratio_1h,
    SUM(CASE WHEN has_prefix THEN GREATEST(ideal_read_tokens - cache_read_tokens, 0)
             ELSE GREATEST(target_read_tokens - cache_read_tokens, 0) END) AS missed_read_tokens,
    SUM(CASE WHEN has_prefix THEN GREATEST(ideal_read_tokens - cache_read_tokens, 0)
             ELSE GREATEST(target_read_tokens - cache_read_tokens, 0) END * discount_per_token) AS gap_usd,
    SUM(CASE WHEN has_prefix THEN GREATEST(ideal_read_tokens_5m - cache_read_tokens, 0)
             ELSE GREATEST(target_read_tokens - cache_read_tokens, 0) END * discount_per_token) AS gap_usd_5m,
    SUM(CASE WHEN has_prefix THEN GREATEST(ideal_read_tokens_1h - cache_read_tokens, 0)
             ELSE GREATEST(target_read_tokens - cache_read_tokens, 0) END * discount_per_token) AS gap_usd_1h
FROM joined
GROUP BY date, model, feature
ORDER BY date, model, feature
