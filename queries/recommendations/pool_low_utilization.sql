-- Rule pool_low_utilization: a self-hosted pool busy less than economics.api_cheaper_below
-- of its billed GPU-hours. Saving: what serving its traffic through the API it stands in
-- for would save a month (selfhost_breakeven), else its idle cost a month
-- (the lookback's idle cost × 730.5 / its billed hours).
WITH pools_used AS (
    SELECT pool,
           SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) AS utilization,
           SUM(idle_cost_usd) AS idle_cost_usd,
           MIN(method) AS method
    FROM hourly_utilization
    GROUP BY pool
)
SELECT
    'pool_low_utilization' AS rule,
    'high' AS severity,
    'pool ' || p.pool AS scope,
    'Pool ' || p.pool || ' was busy ' || CAST(round(100.0 * p.utilization, 1) AS VARCHAR)
        || '% of its GPU-hours (measured by ' || p.method || '); its idle GPUs cost $'
        || CAST(CAST(p.idle_cost_usd * m.gpu_per_month AS DECIMAL(20, 2)) AS VARCHAR) || ' a month.' AS finding,
    'hourly_utilization, selfhost_breakeven: pool = ''' || p.pool || '''' AS evidence,
    CAST(CASE WHEN b.verdict = 'api' THEN b.monthly_saving_usd ELSE p.idle_cost_usd * m.gpu_per_month END AS DECIMAL(38, 2)) AS est_monthly_savings_usd,
    CASE WHEN b.verdict = 'api'
         THEN 'Move this traffic to ' || b.model || ' (cheaper at this volume) or consolidate the pool onto fewer GPUs.'
         ELSE 'Consolidate onto fewer GPUs or share the pool with other workloads; scale down in quiet hours.'
    END AS action
FROM pools_used p
CROSS JOIN economics e
CROSS JOIN month_factor m
LEFT JOIN selfhost_breakeven b ON b.kind = 'pool' AND b.pool = p.pool
WHERE p.utilization < e.api_cheaper_below
