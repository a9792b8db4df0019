-- What-if scenarios on the break-even table (monthly figures; pools, and API workloads
-- with at least economics.material_share of the API spend): GPU price ±40%,
-- utilisation at 30/60/80% (the same work on more or fewer GPUs), API prices −20%, and
-- buying GPUs instead of renting them (purchase price over the amortisation months plus
-- the all-in monthly cost of an owned GPU; savings start after the lead time).
WITH base AS (
    SELECT
        CASE WHEN kind = 'pool' THEN 'pool ' || pool ELSE 'model ' || model || ' / feature ' || COALESCE(feature, '-') END AS scope,
        kind,
        monthly_api_cost_usd AS api,
        monthly_selfhost_cost_usd AS selfhost,
        CASE WHEN kind = 'pool' THEN COALESCE(actual_utilization, 0) ELSE (SELECT selfhost_wins_above FROM economics) END AS utilization,
        CASE WHEN kind = 'pool' THEN CAST(monthly_selfhost_cost_usd AS DOUBLE) ELSE CAST(monthly_selfhost_cost_usd AS DOUBLE) END AS selfhost_f,
        gpus_needed
    FROM selfhost_breakeven
    -- Pools, and the API workloads with material spend.
    WHERE monthly_api_cost_usd IS NOT NULL
      AND (kind = 'pool'
           OR CAST(monthly_api_cost_usd AS DOUBLE) >= (SELECT material_share FROM economics)
              * (SELECT CAST(SUM(monthly_api_cost_usd) AS DOUBLE) FROM selfhost_breakeven WHERE kind = 'api_workload'))
),
scenarios AS (
    SELECT scope, kind, 'as measured' AS scenario, selfhost, api FROM base
    UNION ALL SELECT scope, kind, 'GPU price +40%', CAST(selfhost * CAST(1.4 AS DECIMAL(3, 1)) AS DECIMAL(38, 12)), api FROM base
    UNION ALL SELECT scope, kind, 'GPU price -40%', CAST(selfhost * CAST(0.6 AS DECIMAL(3, 1)) AS DECIMAL(38, 12)), api FROM base
    UNION ALL SELECT scope, kind, 'utilisation 30%', CAST(selfhost * CAST(utilization / 0.30 AS DECIMAL(20, 10)) AS DECIMAL(38, 12)), api FROM base WHERE utilization > 0
    UNION ALL SELECT scope, kind, 'utilisation 60%', CAST(selfhost * CAST(utilization / 0.60 AS DECIMAL(20, 10)) AS DECIMAL(38, 12)), api FROM base WHERE utilization > 0
    UNION ALL SELECT scope, kind, 'utilisation 80%', CAST(selfhost * CAST(utilization / 0.80 AS DECIMAL(20, 10)) AS DECIMAL(38, 12)), api FROM base WHERE utilization > 0
    UNION ALL SELECT scope, kind, 'API price -20%', selfhost, CAST(api * CAST(0.8 AS DECIMAL(3, 1)) AS DECIMAL(38, 12)) FROM base
    UNION ALL
    SELECT b.scope, b.kind,
           'buy instead of rent (from month ' || CAST(CAST(e.lead_time_months AS BIGINT) + 1 AS VARCHAR) || ')',
           CAST(CAST(COALESCE(b.gpus_needed, 1) AS DECIMAL(20, 0))
                * CAST(e.gpu_purchase_usd / CAST(e.amortisation_months AS DECIMAL(20, 6)) + e.owned_gpu_month_usd AS DECIMAL(20, 6)) AS DECIMAL(38, 12)),
           b.api
    FROM base b CROSS JOIN economics e
)
SELECT
    scope,
    kind,
    scenario,
    selfhost AS monthly_selfhost_cost_usd,
    api AS monthly_api_cost_usd,
    CASE WHEN selfhost < api THEN 'selfhost' ELSE 'api' END AS cheaper,
    CASE WHEN selfhost < api THEN api - selfhost ELSE selfhost - api END AS monthly_difference_usd
FROM scenarios
ORDER BY scope, scenario
