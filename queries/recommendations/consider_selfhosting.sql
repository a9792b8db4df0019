-- Rule consider_selfhosting: an API workload whose break-even utilisation is low enough
-- that serving it on own GPUs at the target utilisation costs less (selfhost_breakeven
-- verdict 'selfhost'), or a pool busier than economics.selfhost_wins_above (it is paying
-- off; more work could move onto it). Saving: selfhost_breakeven's monthly saving.
SELECT
    'consider_selfhosting' AS rule,
    CASE WHEN b.monthly_saving_usd >= 10000 THEN 'high' ELSE 'medium' END AS severity,
    'model ' || b.model || ' / feature ' || COALESCE(b.feature, '-') AS scope,
    'API spend of $' || CAST(CAST(b.monthly_api_cost_usd AS DECIMAL(20, 2)) AS VARCHAR) || ' a month would cost $'
        || CAST(CAST(b.monthly_selfhost_cost_usd AS DECIMAL(20, 2)) AS VARCHAR) || ' on ' || CAST(b.gpus_needed AS VARCHAR)
        || ' self-hosted GPU(s) (its p95 hour, ' || CAST(CAST(round(b.peak_output_tokens_per_second) AS BIGINT) AS VARCHAR)
        || ' output tokens/s, needs ' || CAST(b.gpus_for_peak AS VARCHAR) || ' at the target utilisation, plus the spare), ops $'
        || CAST(CAST(b.monthly_ops_cost_usd AS DECIMAL(20, 2)) AS VARCHAR) || ' a month included; moving costs $'
        || CAST(CAST(b.migration_cost_usd AS DECIMAL(20, 2)) AS VARCHAR) || ' once, paid back in '
        || CAST(round(b.payback_months, 1) AS VARCHAR) || ' months; it breaks even at '
        || CAST(round(100.0 * b.breakeven_utilization, 1) AS VARCHAR) || '% utilisation.' AS finding,
    'selfhost_breakeven: kind = ''api_workload'', model = ''' || b.model || ''', feature = ''' || COALESCE(b.feature, '') || '''' AS evidence,
    CAST(b.monthly_saving_usd AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Pilot an open-weight model of similar quality on ' || CAST(b.gpus_needed AS VARCHAR)
        || ' GPU(s); hardware lead times run long, so rent first.' AS action,
    'model ' || b.model || ' / feature ' || COALESCE(b.feature, '-') AS acts_on,
    'alternative' AS combines
FROM selfhost_breakeven b
WHERE b.kind = 'api_workload' AND b.verdict = 'selfhost'
UNION ALL
SELECT
    'consider_selfhosting',
    'low',
    'pool ' || u.pool,
    'Pool ' || u.pool || ' was busy ' || CAST(round(100.0 * u.utilization, 1) AS VARCHAR)
        || '% of its GPU-hours, above the ' || CAST(round(100.0 * e.selfhost_wins_above, 1) AS VARCHAR)
        || '% where self-hosting wins.',
    'hourly_utilization: pool = ''' || u.pool || '''',
    CAST(0 AS DECIMAL(38, 12)),
    'Keep it; move API workloads of the same model family onto it before adding capacity.',
    CAST(NULL AS VARCHAR),
    'none'
FROM (SELECT pool, SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) AS utilization
      FROM hourly_utilization GROUP BY pool) u
CROSS JOIN economics e
WHERE u.utilization > e.selfhost_wins_above
