-- How busy each pool was, hour by hour, over the quarter: the spread of its hourly
-- utilisation and the share of hours under 30% (an API would have been cheaper) and over
-- 60% (self-hosting wins).
SELECT
    pool,
    COUNT(*) AS hours,
    SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) AS utilization,
    percentile_cont(0.1) WITHIN GROUP (ORDER BY utilization) AS p10_utilization,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY utilization) AS p50_utilization,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY utilization) AS p90_utilization,
    CAST(SUM(CASE WHEN utilization < 0.30 THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS share_of_hours_under_30,
    CAST(SUM(CASE WHEN utilization > 0.60 THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS share_of_hours_over_60,
    SUM(cost_usd) AS cost_usd,
    SUM(idle_cost_usd) AS idle_cost_usd
FROM hourly_utilization
WHERE date >= (SELECT quarter_start FROM review_params) AND date < (SELECT quarter_end FROM review_params)
GROUP BY pool
ORDER BY cost_usd DESC, pool
