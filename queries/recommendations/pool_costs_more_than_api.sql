-- Rule pool_costs_more_than_api: a self-hosted pool whose break-even verdict is 'api' (its
-- monthly GPU cost is above what its traffic would cost on the API model it stands in for),
-- with a material saving (at least economics.material_share of the pool's cost), whatever
-- its utilisation. Saving: selfhost_breakeven's monthly saving (move the traffic to the
-- API; an alternative to right-sizing the pool, not added to it).
SELECT
    'pool_costs_more_than_api' AS rule,
    CASE WHEN b.monthly_saving_usd >= 10000 THEN 'high' ELSE 'medium' END AS severity,
    'pool ' || b.pool AS scope,
    'Pool ' || b.pool || ' costs $' || CAST(CAST(b.monthly_selfhost_cost_usd AS DECIMAL(20, 2)) AS VARCHAR)
        || ' a month for ' || CAST(b.gpus_needed AS VARCHAR) || ' GPU(s) busy '
        || CAST(round(100.0 * b.actual_utilization, 1) AS VARCHAR) || '% of the time; the same tokens on '
        || b.model || ' would cost $' || CAST(CAST(b.monthly_api_cost_usd AS DECIMAL(20, 2)) AS VARCHAR) || ' a month.' AS finding,
    'selfhost_breakeven: kind = ''pool'', pool = ''' || b.pool || '''; pool_rightsizing: pool = ''' || b.pool || '''' AS evidence,
    CAST(b.monthly_saving_usd AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Move this traffic to ' || b.model || ' and give the GPUs back; or, if the model must stay self-hosted, right-size the pool (pool_right_size).' AS action,
    'pool ' || b.pool AS acts_on,
    'alternative' AS combines
FROM selfhost_breakeven b
CROSS JOIN economics e
WHERE b.kind = 'pool' AND b.verdict = 'api'
  AND CAST(b.monthly_saving_usd AS DOUBLE) >= e.material_share * CAST(b.monthly_selfhost_cost_usd AS DOUBLE)
  AND b.monthly_saving_usd > 0
