-- Rule utilisation_sources_disagree: a pool whose utilisation sources, each over the hours
-- it could measure (hourly_utilization: DCGM activity, request timings, token throughput),
-- differ by 10 times or more (an order of magnitude), the highest at least 1%. Sources
-- that far apart usually mean missing logs (requests that never reached the logs read) or
-- a wrong capacity figure, so the pool's utilisation, right-sizing and break-even are in
-- doubt (recommendations on the pool get low confidence) until they agree. No saving.
-- A pool with no [[pools]] tokens_per_second_per_gpu has no measured token throughput;
-- its tokens are then set against the throughput the break-even assumes for its model
-- (gpu_throughput, else its 'default' row): the lookback's output tokens ÷ (that rate ×
-- the pool's GPU-hours billed × 3600), said as "implied".
WITH sources AS (
    SELECT pool,
           SUM(dcgm_utilization * gpu_hours_billed) / NULLIF(SUM(CASE WHEN dcgm_utilization IS NOT NULL THEN gpu_hours_billed END), 0) AS dcgm,
           SUM(requests_utilization * gpu_hours_billed) / NULLIF(SUM(CASE WHEN requests_utilization IS NOT NULL THEN gpu_hours_billed END), 0) AS requests,
           SUM(throughput_utilization * gpu_hours_billed) / NULLIF(SUM(CASE WHEN throughput_utilization IS NOT NULL THEN gpu_hours_billed END), 0) AS throughput,
           SUM(gpu_hours_billed) AS gpu_hours_billed
    FROM hourly_utilization
    GROUP BY pool
),
implied AS (
    -- Output tokens ÷ the assumed rate of their model, in GPU-seconds, per pool.
    SELECT d.pool,
           SUM(CAST(d.output_tokens AS DOUBLE) / COALESCE(t.tokens_per_second, dt.tokens_per_second)) AS busy_gpu_seconds,
           bool_and(COALESCE(t.tokens_per_second, dt.tokens_per_second) > 0) AS rated
    FROM requests_daily d
    LEFT JOIN gpu_throughput t ON t.model = d.model
    LEFT JOIN gpu_throughput dt ON dt.model = 'default'
    WHERE d.pool IS NOT NULL
    GROUP BY d.pool
),
measured AS (
    SELECT s.pool, s.dcgm, s.requests,
           COALESCE(s.throughput,
                    CASE WHEN i.rated THEN i.busy_gpu_seconds / NULLIF(s.gpu_hours_billed * 3600.0, 0.0) END) AS throughput,
           s.throughput IS NULL AND i.rated AS throughput_implied
    FROM sources s
    LEFT JOIN implied i ON i.pool = s.pool
),
spread AS (
    SELECT *,
           greatest(COALESCE(dcgm, -1.0), COALESCE(requests, -1.0), COALESCE(throughput, -1.0)) AS highest,
           least(COALESCE(dcgm, 2.0), COALESCE(requests, 2.0), COALESCE(throughput, 2.0)) AS lowest,
           (CASE WHEN dcgm IS NOT NULL THEN 1 ELSE 0 END + CASE WHEN requests IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN throughput IS NOT NULL THEN 1 ELSE 0 END) AS measured_by
    FROM measured
)
SELECT
    'utilisation_sources_disagree' AS rule,
    'high' AS severity,
    'pool ' || pool AS scope,
    'Pool ' || pool || '''s utilisation sources disagree: '
        || concat_ws(', ',
               CASE WHEN dcgm IS NOT NULL THEN 'DCGM ' || CAST(round(100.0 * dcgm, 3) AS VARCHAR) || '%' END,
               CASE WHEN requests IS NOT NULL THEN 'request timings ' || CAST(round(100.0 * requests, 3) AS VARCHAR) || '%' END,
               CASE WHEN throughput IS NOT NULL THEN 'token throughput ' || CAST(round(100.0 * throughput, 3) AS VARCHAR) || '%'
                    || CASE WHEN throughput_implied THEN ' (implied: its output tokens at the break-even''s assumed tokens per second per GPU)' ELSE '' END END)
        || CASE WHEN lowest > 0 THEN ' (' || CAST(CAST(round(highest / lowest) AS BIGINT) AS VARCHAR) || ' times apart)' ELSE ' (one of them sees nothing)' END
        || '. That far apart usually means the request logs miss much of the pool''s traffic, or its tokens_per_second_per_gpu is wrong: its utilisation, right-sizing and break-even are in doubt until they agree.' AS finding,
    'hourly_utilization: pool = ''' || pool || ''' (dcgm_utilization, requests_utilization, throughput_utilization)' AS evidence,
    CAST(0 AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Check that every deployment of the pool logs its requests (and with durations), and measure tokens_per_second_per_gpu under load; decide on the pool once the sources agree.' AS action,
    CAST(NULL AS VARCHAR) AS acts_on,
    'none' AS combines
FROM spread
WHERE measured_by >= 2 AND highest >= 0.01 AND (lowest <= 0 OR highest / lowest >= 10)
