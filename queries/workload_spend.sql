-- workload_spend (internal): the monthly spend each recommendation acts on, keyed as the
-- rules' `acts_on`: 'model M / feature F' for API spend (the lookback's cost ×
-- month_factor.per_month), 'pool P' for a pool's GPU spend (selfhost_breakeven's monthly
-- self-host cost, its billed cost × 730.5 / billed hours).
SELECT 'model ' || r.model || ' / feature ' || COALESCE(r.feature, '-') AS acts_on,
       CAST(SUM(r.cost_usd) * MAX(m.per_month) AS DECIMAL(38, 12)) AS monthly_spend_usd
FROM requests_daily r CROSS JOIN month_factor m
WHERE r.pool IS NULL AND r.priced
GROUP BY r.model, r.feature
UNION ALL
SELECT 'pool ' || pool, monthly_selfhost_cost_usd
FROM selfhost_breakeven
WHERE kind = 'pool'
