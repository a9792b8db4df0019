-- Rule spot_risk: production pools on spot capacity, or spot prices that swung more than
-- economics.spot_swing within a month. No saving is claimed: the move costs more; it
-- buys stability.
SELECT
    'spot_risk' AS rule,
    CASE WHEN production_pools IS NOT NULL THEN 'high' ELSE 'medium' END AS severity,
    'gpu ' || gpu_model || ' / ' || COALESCE(region, '-') || ' / ' || month AS scope,
    CASE WHEN production_pools IS NOT NULL
         THEN 'Production pool(s) ' || production_pools || ' ran on spot ' || gpu_model || ' capacity; '
         ELSE 'Pool(s) ' || COALESCE(pools, '-') || ' ran on spot ' || gpu_model || ' capacity; '
    END || 'the spot price swung ' || CAST(round(100.0 * swing, 1) AS VARCHAR) || '% in the month ($'
        || CAST(CAST(min_price_per_gpu_hour AS DECIMAL(20, 2)) AS VARCHAR) || ' to $'
        || CAST(CAST(max_price_per_gpu_hour AS DECIMAL(20, 2)) AS VARCHAR) || ' per GPU-hour).' AS finding,
    'spot_volatility: gpu_model = ''' || gpu_model || ''', month = ''' || month || '''' AS evidence,
    CAST(0 AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    CASE WHEN production_pools IS NOT NULL
         THEN 'Move production serving to on-demand or committed capacity; keep spot for batch work that can be interrupted.'
         ELSE 'Budget for the swing, or commit to capacity if the work must run at a known cost.'
    END AS action,
    CAST(NULL AS VARCHAR) AS acts_on,
    'none' AS combines
FROM spot_volatility
WHERE production_pools IS NOT NULL OR volatile
