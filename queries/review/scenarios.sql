-- What-if scenarios on the break-even table (monthly figures; pools, and API workloads
-- with at least economics.material_share of the API spend): GPU price ±40%, utilisation
-- at 30/60/80%, throughput per GPU ±50%, API prices −20%, and buying GPUs instead of
-- renting them (purchase price over the amortisation months plus the all-in monthly cost
-- of an owned GPU; savings start after the lead time).
--
-- A pool keeps its work: at another utilisation it needs its GPUs × actual / that
-- utilisation. An API workload is sized again as selfhost_breakeven sizes it: its p95
-- hour's output tokens per second over (throughput × the utilisation aimed at), in whole
-- replicas, plus the spare replicas, so at any utilisation it needs at least one replica
-- and its spare; its ops cost (monthly_ops_cost_usd) stays whatever the GPUs cost.
WITH base AS (
    SELECT
        CASE WHEN kind = 'pool' THEN 'pool ' || pool ELSE 'model ' || model || ' / feature ' || COALESCE(feature, '-') END AS scope,
        kind,
        monthly_api_cost_usd AS api,
        monthly_selfhost_cost_usd AS selfhost,
        COALESCE(monthly_ops_cost_usd, CAST(0 AS DECIMAL(38, 12))) AS ops,
        CAST(monthly_selfhost_cost_usd - COALESCE(monthly_ops_cost_usd, CAST(0 AS DECIMAL(38, 12))) AS DECIMAL(38, 12)) AS gpu_cost,
        COALESCE(actual_utilization, 0) AS utilization,
        peak_output_tokens_per_second AS peak,
        throughput_tokens_per_second AS throughput,
        replica_gpus,
        CAST(gpu_hour_usd * (SELECT hours_per_month FROM review_params) AS DECIMAL(38, 12)) AS gpu_month,
        gpus_needed
    FROM selfhost_breakeven
    -- Pools, and the API workloads with material spend.
    WHERE monthly_api_cost_usd IS NOT NULL
      AND (kind = 'pool'
           OR CAST(monthly_api_cost_usd AS DOUBLE) >= (SELECT material_share FROM economics)
              * (SELECT CAST(SUM(monthly_api_cost_usd) AS DOUBLE) FROM selfhost_breakeven WHERE kind = 'api_workload'))
),
-- The API workloads' GPUs under each sizing scenario (utilisation aimed at, throughput).
sizings AS (
    -- The throughput scenarios aim at the target utilisation (economics.selfhost_wins_above).
    SELECT b.*, v.scenario,
           b.replica_gpus * (CAST(ceil(CAST(GREATEST(ceil(b.peak / (b.throughput * v.throughput_factor
                                  * CASE WHEN v.aimed > 0 THEN v.aimed ELSE e.selfhost_wins_above END)), 1) AS DOUBLE)
                                       / b.replica_gpus) AS BIGINT)
                             + CAST(e.spare_replicas AS BIGINT)) AS gpus
    FROM base b
    CROSS JOIN economics e
    CROSS JOIN (VALUES ('utilisation 30%', 0.30, 1.0), ('utilisation 60%', 0.60, 1.0), ('utilisation 80%', 0.80, 1.0),
                       ('throughput +50%', -1.0, 1.5), ('throughput -50%', -1.0, 0.5)) AS v(scenario, aimed, throughput_factor)
    WHERE b.kind = 'api_workload'
),
scenarios AS (
    SELECT scope, kind, 'as measured' AS scenario, selfhost, api FROM base
    UNION ALL SELECT scope, kind, 'GPU price +40%', CAST(gpu_cost * CAST(1.4 AS DECIMAL(3, 1)) + ops AS DECIMAL(38, 12)), api FROM base
    UNION ALL SELECT scope, kind, 'GPU price -40%', CAST(gpu_cost * CAST(0.6 AS DECIMAL(3, 1)) + ops AS DECIMAL(38, 12)), api FROM base
    UNION ALL SELECT scope, kind, 'utilisation 30%', CAST(selfhost * CAST(utilization / 0.30 AS DECIMAL(20, 10)) AS DECIMAL(38, 12)), api FROM base WHERE kind = 'pool' AND utilization > 0
    UNION ALL SELECT scope, kind, 'utilisation 60%', CAST(selfhost * CAST(utilization / 0.60 AS DECIMAL(20, 10)) AS DECIMAL(38, 12)), api FROM base WHERE kind = 'pool' AND utilization > 0
    UNION ALL SELECT scope, kind, 'utilisation 80%', CAST(selfhost * CAST(utilization / 0.80 AS DECIMAL(20, 10)) AS DECIMAL(38, 12)), api FROM base WHERE kind = 'pool' AND utilization > 0
    UNION ALL SELECT scope, kind, scenario, CAST(CAST(gpus AS DECIMAL(20, 0)) * gpu_month + ops AS DECIMAL(38, 12)), api FROM sizings
    UNION ALL SELECT scope, kind, 'API price -20%', selfhost, CAST(api * CAST(0.8 AS DECIMAL(3, 1)) AS DECIMAL(38, 12)) FROM base
    UNION ALL
    SELECT b.scope, b.kind,
           'buy instead of rent (from month ' || CAST(CAST(e.lead_time_months AS BIGINT) + 1 AS VARCHAR) || ')',
           CAST(CAST(COALESCE(b.gpus_needed, 1) AS DECIMAL(20, 0))
                * CAST(e.gpu_purchase_usd / CAST(e.amortisation_months AS DECIMAL(20, 6)) + e.owned_gpu_month_usd AS DECIMAL(20, 6))
                + b.ops AS DECIMAL(38, 12)),
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
