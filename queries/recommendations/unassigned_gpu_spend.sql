-- Rule unassigned_gpu_spend: GPU spend that no [[pools]] rule claims, so no team carries it.
SELECT
    'unassigned_gpu_spend' AS rule,
    'medium' AS severity,
    'resource ' || COALESCE(resource_id, '-') AS scope,
    'GPU resource ' || COALESCE(resource_id, '-') || ' (' || gpu_model || ') cost $'
        || CAST(CAST(SUM(cost_usd) * MAX(m.gpu_per_month) AS DECIMAL(20, 2)) AS VARCHAR) || ' a month that no pool claims.' AS finding,
    'gpu_billing_hourly: pool IS NULL, resource_id = ''' || COALESCE(resource_id, '') || '''' AS evidence,
    CAST(0 AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Assign it to a pool ([[pools]] resources, names or tags) so its cost is attributed, or shut it down if nothing uses it.' AS action,
    CAST(NULL AS VARCHAR) AS acts_on,
    'none' AS combines
FROM gpu_billing_hourly CROSS JOIN month_factor m
WHERE pool IS NULL
GROUP BY resource_id, gpu_model
