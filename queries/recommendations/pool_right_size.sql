-- Rule pool_right_size: a pool that could give back whole instances at some hours of the
-- day and still run at most economics.selfhost_wins_above busy (pool_rightsizing). Saving:
-- the GPUs given back, priced at the pool's GPU-hour price (for committed capacity the
-- saving at renewal, which queries/recommendations.sql marks as realisable only then). An
-- alternative to moving the pool to the API.
WITH plan AS (
    SELECT pool,
           MAX(billed_gpus) AS billed_gpus,
           MAX(peak_gpus_needed) AS peak_gpus_needed,
           MIN(gpus_needed) AS quiet_gpus_needed,
           SUM(monthly_saving_usd) AS monthly_saving_usd,
           SUM(saving_at_renewal_usd) AS saving_at_renewal_usd,
           SUM(CASE WHEN removable_gpus > 0 THEN 1 ELSE 0 END) AS hours_to_scale_down,
           MAX(target_utilization) AS target_utilization,
           BOOL_OR(committed) AS committed
    FROM pool_rightsizing
    GROUP BY pool
),
utilisation AS (
    SELECT pool, SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) AS utilization
    FROM hourly_utilization GROUP BY pool
)
SELECT
    'pool_right_size' AS rule,
    CASE WHEN p.monthly_saving_usd + p.saving_at_renewal_usd >= 10000 THEN 'high' ELSE 'medium' END AS severity,
    'pool ' || p.pool AS scope,
    'Pool ' || p.pool || ' was busy ' || CAST(round(100.0 * u.utilization, 1) AS VARCHAR) || '% of its GPU-hours on '
        || CAST(p.billed_gpus AS VARCHAR) || ' GPUs; at ' || CAST(round(100.0 * p.target_utilization, 1) AS VARCHAR)
        || '% busy it needs ' || CAST(p.peak_gpus_needed AS VARCHAR) || ' at its busiest hour'
        || CASE WHEN p.peak_gpus_needed > p.billed_gpus THEN ' (more than it has: its peak runs above the target)' ELSE '' END
        || ' and ' || CAST(p.quiet_gpus_needed AS VARCHAR) || ' in its quietest; '
        || CAST(p.hours_to_scale_down AS VARCHAR) || ' hours of the day could run on fewer'
        || '.' AS finding,
    'pool_rightsizing: pool = ''' || p.pool || ''' (gpus_needed, removable_gpus by hour_of_day)' AS evidence,
    CAST(p.monthly_saving_usd + p.saving_at_renewal_usd AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Scale the pool down in the hours pool_rightsizing lists (an autoscaler schedule: gpus_needed by hour_of_day), back to '
        || CAST(LEAST(p.peak_gpus_needed, p.billed_gpus) AS VARCHAR) || ' GPUs for the busy hours.' AS action,
    'pool ' || p.pool AS acts_on,
    'alternative' AS combines
FROM plan p
JOIN utilisation u ON u.pool = p.pool
WHERE p.hours_to_scale_down > 0
