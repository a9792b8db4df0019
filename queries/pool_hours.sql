-- pool_hours (internal): each pool-hour's billed GPUs and cost, and its utilisation
-- measured the best way the data allows, with `method` saying which:
--   dcgm        mean GPU activity over the hour (DCGM_FI_PROF_GR_ENGINE_ACTIVE, else
--               DCGM_FI_DEV_GPU_UTIL / 100) of the pool's hosts, where the hour has samples;
--   requests    where every request in flight in the hour has a duration: the share of
--               the hour in which at least one request was in flight on each replica (a
--               deployment is a replica; overlapping requests count once), averaged over
--               the pool's deployments (busy_micros, from pool_busy, made with
--               gpu_request_weights by pipeline/analyze/attribution.rs);
--   throughput  output tokens ÷ (tokens_per_second_per_gpu × GPU-hours billed × 3600), from
--               the hour's requests or, without them, vLLM's generation counter;
--   none        nothing to measure with (utilization NULL).
-- The method is chosen per hour from that hour's data alone, so a run over one night and
-- a run over the month agree. Hours billed with no traffic are 0% busy, not missing: a
-- pool with deployments and no capacity figure counts such hours by the requests method.
WITH billed AS (
    -- A resource's GPU-hours in one hour are capped at its GPUs: negation and credit rows
    -- repeat its usage without adding GPUs.
    SELECT pool, hour, SUM(gpus) AS gpus, SUM(gpu_hours) AS gpu_hours_billed, SUM(cost_usd) AS cost_usd
    FROM (
        SELECT pool, hour, resource_id, MAX(gpus) AS gpus,
               LEAST(SUM(gpu_hours), CAST(MAX(gpus) AS DOUBLE)) AS gpu_hours,
               SUM(cost_usd) AS cost_usd
        FROM gpu_billing_hourly
        WHERE pool IS NOT NULL
        GROUP BY pool, hour, resource_id
    ) per_resource
    GROUP BY pool, hour
),
dcgm AS (
    SELECT pool,
           CAST(floor(date_part('epoch', ts) / 3600) AS BIGINT) AS hour_index,
           AVG(CASE WHEN metric = 'DCGM_FI_PROF_GR_ENGINE_ACTIVE' THEN value END) AS engine_active,
           AVG(CASE WHEN metric = 'DCGM_FI_DEV_GPU_UTIL' THEN value / 100.0 END) AS gpu_util
    FROM metrics_staged
    WHERE format = 'dcgm' AND pool IS NOT NULL
    GROUP BY 1, 2
),
busy AS (
    -- Busy time per pool-hour from pipeline/analyze/attribution.rs: the union of in-flight time
    -- of each replica (deployment), summed over replicas, exact in µs.
    SELECT b.pool, b.hour_index, b.busy_micros,
           CAST(b.busy_micros AS DOUBLE) / 3600000000.0 / CAST(pl.deployments AS DOUBLE) AS busy_share
    FROM pool_busy b JOIN pools pl ON b.pool = pl.pool
),
request_hours AS (
    -- Requests in flight per pool-hour, and how many lack a duration.
    SELECT pool, hour_index, SUM(without_duration) AS without_duration
    FROM gpu_request_weights
    GROUP BY pool, hour_index
),
request_tokens AS (
    SELECT r.pool, CAST(floor(date_part('epoch', r.ts) / 3600) AS BIGINT) AS hour_index,
           SUM(CAST(r.output_tokens AS DOUBLE) / c.tokens_per_second_per_gpu) AS busy_gpu_seconds
    FROM requests r JOIN pool_capacity c ON r.pool = c.pool AND r.model = c.model
    GROUP BY 1, 2
),
vllm_tokens AS (
    SELECT v.pool, CAST(floor(date_part('epoch', v.hour) / 3600) AS BIGINT) AS hour_index,
           SUM(CAST(v.generation_tokens AS DOUBLE) / c.tokens_per_second_per_gpu) AS busy_gpu_seconds
    FROM vllm_hourly v JOIN pool_capacity c ON v.pool = c.pool AND v.model = c.model
    GROUP BY 1, 2
),
measured AS (
    SELECT b.*,
           CAST(floor(date_part('epoch', b.hour) / 3600) AS BIGINT) AS hour_index,
           CASE WHEN d.pool IS NOT NULL THEN 'dcgm'
                WHEN rh.pool IS NOT NULL AND rh.without_duration = 0 THEN 'requests'
                WHEN cap.pool IS NOT NULL THEN 'throughput'
                WHEN rh.pool IS NULL AND dep.pool IS NOT NULL THEN 'requests'
                ELSE 'none'
           END AS method,
           COALESCE(d.engine_active, d.gpu_util) AS dcgm_utilization,
           COALESCE(bz.busy_share, 0.0) AS requests_utilization,
           COALESCE(bz.busy_micros, 0) AS busy_micros,
           pl.deployments AS replicas,
           CASE WHEN rh.pool IS NOT NULL THEN COALESCE(rt.busy_gpu_seconds, 0.0)
                ELSE COALESCE(vt.busy_gpu_seconds, 0.0)
           END / NULLIF(b.gpu_hours_billed * 3600.0, 0.0) AS throughput_utilization,
           dep.pool IS NOT NULL AND COALESCE(rh.without_duration, 0) = 0 AS requests_measurable,
           cap.pool IS NOT NULL AS throughput_measurable
    FROM billed b
    LEFT JOIN dcgm d ON d.pool = b.pool AND d.hour_index = CAST(floor(date_part('epoch', b.hour) / 3600) AS BIGINT)
    LEFT JOIN pools pl ON pl.pool = b.pool
    LEFT JOIN (SELECT DISTINCT pool FROM pool_deployments) dep ON dep.pool = b.pool
    LEFT JOIN request_hours rh ON rh.pool = b.pool AND rh.hour_index = CAST(floor(date_part('epoch', b.hour) / 3600) AS BIGINT)
    LEFT JOIN (SELECT DISTINCT pool FROM pool_capacity) cap ON cap.pool = b.pool
    LEFT JOIN busy bz ON bz.pool = b.pool AND bz.hour_index = CAST(floor(date_part('epoch', b.hour) / 3600) AS BIGINT)
    LEFT JOIN request_tokens rt ON rt.pool = b.pool AND rt.hour_index = CAST(floor(date_part('epoch', b.hour) / 3600) AS BIGINT)
    LEFT JOIN vllm_tokens vt ON vt.pool = b.pool AND vt.hour_index = CAST(floor(date_part('epoch', b.hour) / 3600) AS BIGINT)
)
SELECT
    hour,
    hour_index,
    pool,
    gpus,
    gpu_hours_billed,
    cost_usd,
    method,
    replicas,
    busy_micros,
    CASE WHEN measured_utilization IS NULL THEN NULL ELSE LEAST(1.0, measured_utilization) END AS utilization,
    -- Every source that could measure the hour, whichever was chosen: DCGM, request
    -- timings, token throughput (NULL where the data for it is missing).
    dcgm_utilization,
    CASE WHEN requests_measurable THEN requests_utilization END AS requests_utilization,
    CASE WHEN throughput_measurable THEN throughput_utilization END AS throughput_utilization,
    to_char(hour, '%Y-%m-%d') AS date
FROM (
    SELECT *,
           CASE method
               WHEN 'dcgm' THEN dcgm_utilization
               WHEN 'requests' THEN requests_utilization
               WHEN 'throughput' THEN throughput_utilization
           END AS measured_utilization
    FROM measured
) m
ORDER BY pool, hour
