-- hourly_utilization: one row per pool and billed hour: GPUs, GPU-hours billed, busy
-- GPU-hours, utilization and the method that measured it (see pool_hours), the hour's
-- GPU cost and the idle part of it (from gpu_cost_attribution). Users quote: many
-- self-hosted fleets run at 15–25%; below ~30% an API would have been cheaper; above
-- ~60% self-hosting wins.
SELECT
    p.hour,
    p.pool,
    p.gpus,
    p.gpu_hours_billed,
    p.utilization * p.gpu_hours_billed AS busy_gpu_hours,
    p.utilization,
    p.method,
    p.cost_usd,
    COALESCE(i.idle_cost_usd, p.cost_usd) AS idle_cost_usd,
    p.dcgm_utilization,
    p.requests_utilization,
    p.throughput_utilization,
    p.date
FROM pool_hours p
LEFT JOIN (
    SELECT pool, hour, SUM(gpu_cost_usd) AS idle_cost_usd
    FROM gpu_cost_attribution
    WHERE team = '__idle__'
    GROUP BY pool, hour
) i ON i.pool = p.pool AND i.hour = p.hour
ORDER BY p.pool, p.hour
