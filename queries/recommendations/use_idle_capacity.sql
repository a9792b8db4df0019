-- Rule use_idle_capacity: before renting GPUs for an API workload, use the GPUs a pool
-- already pays for and does not need. A pool's spare GPUs are those it was billed for
-- beyond what it needs at the target utilisation in its busiest hour of the day
-- (pool_rightsizing: MIN over the hours of billed_gpus − gpus_needed). The host is the pool
-- of the self-hosting GPU model (economics.selfhost_gpu_model) with the most spare GPUs.
-- API workloads move onto it in order of what they save, as long as every one so far fits
-- (their p95 hour's gpus_for_peak, from selfhost_breakeven; the pool's spare capacity is
-- their spare). Saving: the workload's API cost less its ops cost (the GPUs are paid for
-- already); an alternative to renting for it (consider_selfhosting). Under a commitment,
-- whose GPUs are paid until renewal whatever happens, this is the move available now.
WITH spare AS (
    SELECT pool, MIN(billed_gpus - gpus_needed) AS spare_gpus, bool_or(committed) AS committed
    FROM pool_rightsizing
    GROUP BY pool
),
pool_gpu AS (
    SELECT pool, MAX(gpu_model) AS gpu_model
    FROM gpu_billing_hourly WHERE pool IS NOT NULL
    GROUP BY pool
),
host AS (
    SELECT s.pool, s.spare_gpus, s.committed
    FROM spare s
    JOIN pool_gpu g ON g.pool = s.pool
    CROSS JOIN economics e
    WHERE g.gpu_model = e.selfhost_gpu_model AND s.spare_gpus > 0
    ORDER BY s.spare_gpus DESC, s.pool
    LIMIT 1
),
candidates AS (
    SELECT b.model, b.feature, b.monthly_api_cost_usd, b.monthly_ops_cost_usd, b.gpus_for_peak,
           b.peak_output_tokens_per_second,
           h.pool AS host_pool, h.spare_gpus, h.committed,
           b.monthly_api_cost_usd - b.monthly_ops_cost_usd AS saving,
           SUM(b.gpus_for_peak) OVER (
               ORDER BY b.monthly_api_cost_usd - b.monthly_ops_cost_usd DESC, b.model, b.feature
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS gpus_so_far
    FROM selfhost_breakeven b
    CROSS JOIN host h
    WHERE b.kind = 'api_workload' AND b.gpus_for_peak IS NOT NULL
      AND b.monthly_api_cost_usd > b.monthly_ops_cost_usd
)
SELECT
    'use_idle_capacity' AS rule,
    CASE WHEN saving >= 10000 THEN 'high' ELSE 'medium' END AS severity,
    'model ' || model || ' / feature ' || COALESCE(feature, '-') AS scope,
    'Pool ' || host_pool || ' has ' || CAST(spare_gpus AS VARCHAR) || ' GPU(s) it does not need at any hour of the day'
        || CASE WHEN committed THEN ' (committed capacity, paid until renewal)' ELSE '' END
        || '; this workload''s p95 hour (' || CAST(CAST(round(peak_output_tokens_per_second) AS BIGINT) AS VARCHAR)
        || ' output tokens/s) needs ' || CAST(gpus_for_peak AS VARCHAR) || ' of them. On them it costs its ops, $'
        || CAST(CAST(monthly_ops_cost_usd AS DECIMAL(20, 2)) AS VARCHAR) || ' a month, instead of $'
        || CAST(CAST(monthly_api_cost_usd AS DECIMAL(20, 2)) AS VARCHAR) || ' on the API.' AS finding,
    'pool_rightsizing: pool = ''' || host_pool || ''' (billed_gpus − gpus_needed); selfhost_breakeven: model = '''
        || model || ''', feature = ''' || COALESCE(feature, '') || '''' AS evidence,
    CAST(saving AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Serve an open-weight model of similar quality for this workload on pool ' || host_pool || '''s idle GPUs ('
        || CAST(gpus_for_peak AS VARCHAR) || ' at its p95 hour) before renting or buying new ones'
        || CASE WHEN committed THEN '; they are paid for until the commitment ends, so this is the first move.' ELSE '.' END AS action,
    'model ' || model || ' / feature ' || COALESCE(feature, '-') AS acts_on,
    'alternative' AS combines
FROM candidates
WHERE gpus_so_far <= spare_gpus
