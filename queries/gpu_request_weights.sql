-- gpu_request_weights (internal): what each team, feature and model used of a pool in an
-- hour, for splitting the pool-hour's cost. A request's GPU time is the part of its
-- duration inside the hour (a request running across an hour boundary counts in both
-- hours); where any request of a pool-hour lacks a duration, the split falls back to
-- tokens.
WITH spans AS (
    SELECT pool, team, feature, provider, model, deployment, duration_ms,
           input_tokens + output_tokens AS tokens,
           date_part('epoch', ts) AS s,
           date_part('epoch', ts) + CAST(COALESCE(duration_ms, 0) AS DOUBLE) / 1000.0 AS e
    FROM requests
    WHERE pool IS NOT NULL
),
pieces AS (
    SELECT spans.*,
           unnest(range(
               CAST(floor(s / 3600) AS BIGINT),
               GREATEST(CAST(ceil(e / 3600) AS BIGINT), CAST(floor(s / 3600) AS BIGINT) + 1)
           )) AS hour_index
    FROM spans
)
SELECT
    pool,
    hour_index,
    team,
    feature,
    provider,
    model,
    deployment,
    COUNT(*) AS requests,
    SUM(CAST(round((LEAST(e, (hour_index + 1) * 3600.0) - GREATEST(s, hour_index * 3600.0)) * 1000.0) AS BIGINT)) AS gpu_time_ms,
    SUM(tokens) AS tokens,
    SUM(CASE WHEN duration_ms IS NULL THEN 1 ELSE 0 END) AS without_duration
FROM pieces
GROUP BY pool, hour_index, team, feature, provider, model, deployment
ORDER BY pool, hour_index, team, feature, provider, model, deployment
