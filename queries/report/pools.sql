-- Self-hosted pools over the run: GPU-hours, utilisation, cost and idle cost.
SELECT
    pool,
    MIN(method) AS method,
    SUM(gpu_hours_billed) AS gpu_hours_billed,
    SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) AS utilization,
    SUM(cost_usd) AS cost_usd,
    SUM(idle_cost_usd) AS idle_cost_usd
FROM hourly_utilization
GROUP BY pool
ORDER BY cost_usd DESC, pool
