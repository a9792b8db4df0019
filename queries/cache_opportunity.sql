-- cache_opportunity: how much more prompt caching could save, by date × model × feature.
--
-- Input: requests (API only) and cache_ideal (pipeline/analyze/cache_sim.rs: the requests
-- with prompt-prefix identity, replayed; a small build side). Where requests carry
-- prompt-prefix identity (hash_ids block lists, or a prefix_hash), ideal_hit_ratio is what
-- a perfect prefix cache would have reached (no TTL, 5-minute and 1-hour TTL) against the
-- actual cache_read_tokens. Without prefix identity, the gap is estimated to
-- economics.cache_hit_target instead (method 'target'). The gap is priced per request:
-- missing cached tokens × cache_read_discount (input price − cache-read price). The
-- discount is a price, one per model, provider and day: the missing tokens are summed per
-- provider first and priced once per sum, which is the same exact decimal as pricing each
-- request's.
WITH joined AS (
    SELECT r.date, r.model, r.feature, r.provider, r.ts, r.input_tokens, r.cache_read_tokens,
           c.request_id IS NOT NULL AS has_prefix,
           c.ideal_read_tokens, c.ideal_read_tokens_5m, c.ideal_read_tokens_1h,
           CAST(round((SELECT cache_hit_target FROM economics) * r.input_tokens) AS BIGINT) AS target_read_tokens
    FROM cache_ideal c
    RIGHT JOIN requests r ON r.request_id = c.request_id
    WHERE r.pool IS NULL
),
per_provider AS (
    SELECT
        date, model, feature, provider,
        MIN(ts) AS first_ts,
        bool_and(has_prefix) AS all_prefix,
        bool_or(has_prefix) AS any_prefix,
        COUNT(*) AS requests,
        SUM(input_tokens) AS input_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        SUM(CASE WHEN has_prefix THEN input_tokens END) AS prefix_input_tokens,
        SUM(ideal_read_tokens) AS ideal_read_tokens,
        SUM(ideal_read_tokens_5m) AS ideal_read_tokens_5m,
        SUM(ideal_read_tokens_1h) AS ideal_read_tokens_1h,
        SUM(CASE WHEN has_prefix THEN GREATEST(ideal_read_tokens - cache_read_tokens, 0)
                 ELSE GREATEST(target_read_tokens - cache_read_tokens, 0) END) AS missed_read_tokens,
        SUM(CASE WHEN has_prefix THEN GREATEST(ideal_read_tokens_5m - cache_read_tokens, 0)
                 ELSE GREATEST(target_read_tokens - cache_read_tokens, 0) END) AS missed_read_tokens_5m,
        SUM(CASE WHEN has_prefix THEN GREATEST(ideal_read_tokens_1h - cache_read_tokens, 0)
                 ELSE GREATEST(target_read_tokens - cache_read_tokens, 0) END) AS missed_read_tokens_1h
    FROM joined
    GROUP BY date, model, feature, provider
),
priced AS (
    SELECT *, cache_read_discount(model, provider, first_ts) AS discount_per_token
    FROM per_provider
)
SELECT
    date,
    model,
    feature,
    CASE WHEN bool_and(all_prefix) THEN 'prefix_identity'
         WHEN bool_or(any_prefix) THEN 'mixed'
         ELSE 'target' END AS method,
    -- COALESCE only keeps the column non-NULL in the schema: a group always has requests.
    COALESCE(SUM(requests), 0) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    CAST(SUM(cache_read_tokens) AS DOUBLE) / NULLIF(CAST(SUM(input_tokens) AS DOUBLE), 0) AS actual_hit_ratio,
    CAST(SUM(ideal_read_tokens) AS DOUBLE) / NULLIF(CAST(SUM(prefix_input_tokens) AS DOUBLE), 0) AS ideal_hit_ratio,
    CAST(SUM(ideal_read_tokens_5m) AS DOUBLE) / NULLIF(CAST(SUM(prefix_input_tokens) AS DOUBLE), 0) AS ideal_hit_ratio_5m,
    CAST(SUM(ideal_read_tokens_1h) AS DOUBLE) / NULLIF(CAST(SUM(prefix_input_tokens) AS DOUBLE), 0) AS ideal_hit_ratio_1h,
    SUM(missed_read_tokens) AS missed_read_tokens,
    SUM(missed_read_tokens * discount_per_token) AS gap_usd,
    SUM(missed_read_tokens_5m * discount_per_token) AS gap_usd_5m,
    SUM(missed_read_tokens_1h * discount_per_token) AS gap_usd_1h
FROM priced
GROUP BY date, model, feature
ORDER BY date, model, feature
