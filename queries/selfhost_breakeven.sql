-- selfhost_breakeven: should a workload run on an API or on our own GPUs? One row per API
-- workload (model × feature) and per self-hosted pool, in monthly figures: the lookback's
-- API figures × 30.4375 / the days with requests, a pool's GPU cost × 730.5 / the hours it
-- was billed (month_factor; request_days, billed_hours and the lookback are columns).
--
-- API workloads: monthly tokens and API cost at the actual prices and cache mix. Serving
-- the same output self-hosted is sized for the busy hours, not the month's average: the
-- workload's p95 hour (over the hours it had traffic; requests_daily splits days by
-- hour_of_day) needs gpus_for_peak = ceil(p95 output tokens per second / (throughput ×
-- target utilisation)) GPUs, rounded up to whole replicas of replica_gpus (economics:
-- the GPUs one replica of the stand-in model needs), plus economics.spare_replicas
-- replicas (N+1): gpus_needed = replica_gpus × (ceil(gpus_for_peak / replica_gpus) +
-- spare). Target utilisation = economics.selfhost_wins_above; the GPUs are
-- economics.selfhost_gpu_model, priced at the billed price of that GPU model where the
-- bills have one (on-demand GPU-hours, else committed ones: what is paid), else
-- economics' assumed price. Running it costs monthly_ops_cost_usd =
-- selfhost_ops_engineer_months × engineer_month_usd a month, in the self-hosted cost; moving
-- it costs migration_cost_usd = migration_engineer_months × engineer_month_usd once, paid
-- back in payback_months = migration cost / monthly saving.
--   breakeven_tokens_per_gpu_month = GPU-month cost ÷ (API cost per token at this mix)
--   breakeven_utilization = the share of a GPU's monthly output capacity those tokens'
--                            output needs; above 1 (breakeven_reachable false) no
--                            utilisation makes self-hosting pay
-- Verdict: 'api' when self-hosting at the target utilisation costs more; else 'selfhost'
-- when break-even utilisation is at or below economics.api_cheaper_below (it pays even
-- on a quiet fleet), 'marginal' in between. monthly_saving_usd is what the verdict saves.
-- Self-hosted pools: their actual cost (idle included) per million tokens against the API
-- price of the model they stand in for ([[pools]] api_model, today's catalog price);
-- gpus_needed is the GPUs they were billed for, on average per hour.
WITH factor AS (
    SELECT * FROM month_factor
),
billed_by_category AS (
    SELECT pricing_category,
           CAST(SUM(cost_usd) / CAST(SUM(gpu_hours) AS DECIMAL(38, 6)) AS DECIMAL(38, 12)) AS gpu_hour_usd
    FROM gpu_billing_hourly
    WHERE gpu_model = (SELECT selfhost_gpu_model FROM economics)
      AND pricing_category IN ('on_demand', 'committed') AND gpu_hours > 0
    GROUP BY pricing_category
),
billed_price AS (
    -- On-demand where the bills have it (what another GPU would cost), else committed.
    SELECT gpu_hour_usd, pricing_category FROM billed_by_category
    ORDER BY pricing_category = 'on_demand' DESC LIMIT 1
),
gpu_price AS (
    -- A rate in decimal, rounded to 6 decimals (GPU-hours are measured to 6 decimals):
    -- what the bills paid per on-demand GPU-hour of the model, else the assumption. Where it
    -- came from is a column (gpu_hour_source).
    SELECT CAST(COALESCE(
               (SELECT gpu_hour_usd FROM billed_price),
               (SELECT gpu_hour_usd FROM gpu_hour_prices
                WHERE gpu_model = (SELECT selfhost_gpu_model FROM economics))
           ) AS DECIMAL(38, 6)) AS gpu_hour_usd,
           CASE WHEN (SELECT gpu_hour_usd FROM billed_price) IS NOT NULL
                THEN 'bills: ' || CASE WHEN (SELECT pricing_category FROM billed_price) = 'on_demand' THEN 'on-demand ' ELSE 'committed ' END
                     || (SELECT selfhost_gpu_model FROM economics) || ' GPU-hours in the lookback'
                ELSE 'assumption: [economics] gpu_hour_usd ' || (SELECT selfhost_gpu_model FROM economics)
           END AS gpu_hour_source
),
workloads AS (
    SELECT r.model, r.feature,
           SUM(r.input_tokens) AS input_tokens,
           SUM(r.cache_read_tokens) AS cache_read_tokens,
           SUM(r.output_tokens) AS output_tokens,
           SUM(r.cost_usd) AS cost_usd
    FROM requests_daily r
    WHERE r.pool IS NULL AND r.priced
    GROUP BY r.model, r.feature
),
workload_hours AS (
    SELECT r.model, r.feature, r.date, r.hour_of_day, SUM(r.output_tokens) AS output_tokens
    FROM requests_daily r
    WHERE r.pool IS NULL AND r.priced
    GROUP BY r.model, r.feature, r.date, r.hour_of_day
),
workload_peaks AS (
    -- The p95 of the workload's hours with traffic, in output tokens per second.
    SELECT model, feature,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY CAST(output_tokens AS DOUBLE)) / 3600.0
               AS peak_output_tokens_per_second
    FROM workload_hours
    GROUP BY model, feature
),
api AS (
    SELECT
        'api_workload' AS kind,
        w.model,
        w.feature,
        CAST(NULL AS VARCHAR) AS pool,
        CAST(round(w.input_tokens * f.per_month_f) AS BIGINT) AS monthly_input_tokens,
        CAST(round(w.cache_read_tokens * f.per_month_f) AS BIGINT) AS monthly_cache_read_tokens,
        CAST(round(w.output_tokens * f.per_month_f) AS BIGINT) AS monthly_output_tokens,
        CAST(w.cost_usd * f.per_month AS DECIMAL(38, 12)) AS monthly_api_cost_usd,
        COALESCE(t.tokens_per_second, d.tokens_per_second) AS throughput_tokens_per_second,
        g.gpu_hour_usd,
        g.gpu_hour_source,
        g.gpu_hour_usd * f.hours_per_month AS gpu_month_usd,
        COALESCE(t.tokens_per_second, d.tokens_per_second) * 3600.0 * CAST(f.hours_per_month AS DOUBLE) AS output_capacity_per_gpu_month,
        w.input_tokens + w.output_tokens AS tokens,
        w.output_tokens,
        CAST(w.cost_usd AS DOUBLE) AS cost_f,
        f.per_month_f,
        f.request_days AS coverage_days,
        CAST(NULL AS BIGINT) AS coverage_hours,
        f.lookback_from, f.lookback_to,
        COALESCE(p.peak_output_tokens_per_second, 0.0) AS peak_output_tokens_per_second,
        CAST(COALESCE(rg.gpus, rd.gpus, 1.0) AS BIGINT) AS replica_gpus
    FROM workloads w
    CROSS JOIN factor f
    CROSS JOIN gpu_price g
    LEFT JOIN workload_peaks p ON p.model = w.model AND p.feature IS NOT DISTINCT FROM w.feature
    LEFT JOIN gpu_throughput t ON t.model = w.model
    LEFT JOIN gpu_throughput d ON d.model = 'default'
    LEFT JOIN replica_gpus rg ON rg.model = w.model
    LEFT JOIN replica_gpus rd ON rd.model = 'default'
),
api_peak AS (
    SELECT a.*,
           CAST(GREATEST(ceil(a.peak_output_tokens_per_second / (a.throughput_tokens_per_second * e.selfhost_wins_above)), 1) AS BIGINT)
               AS gpus_for_peak_load
    FROM api a CROSS JOIN economics e
),
api_sized AS (
    SELECT a.*,
           replica_gpus * CAST(ceil(CAST(gpus_for_peak_load AS DOUBLE) / replica_gpus) AS BIGINT) AS gpus_for_peak,
           replica_gpus * (CAST(ceil(CAST(gpus_for_peak_load AS DOUBLE) / replica_gpus) AS BIGINT)
                           + CAST(e.spare_replicas AS BIGINT)) AS gpus_needed,
           CAST(e.engineer_month_usd * CAST(e.selfhost_ops_engineer_months AS DECIMAL(20, 6)) AS DECIMAL(38, 12)) AS monthly_ops_cost_usd,
           CAST(e.engineer_month_usd * CAST(e.migration_engineer_months AS DECIMAL(20, 6)) AS DECIMAL(38, 12)) AS migration_cost_usd,
           -- tokens and cost_f are both over the run, so their ratio is the month's too.
           CASE WHEN cost_f > 0 THEN CAST(gpu_month_usd AS DOUBLE) * tokens / cost_f END AS breakeven_tokens_per_gpu_month,
           CASE WHEN cost_f > 0
                THEN CAST(gpu_month_usd AS DOUBLE) * output_tokens / cost_f / output_capacity_per_gpu_month
           END AS breakeven_utilization,
           e.api_cheaper_below
    FROM api_peak a CROSS JOIN economics e
),
api_costed AS (
    SELECT *,
           CAST(CAST(gpus_needed AS DECIMAL(20, 0)) * gpu_month_usd + monthly_ops_cost_usd AS DECIMAL(38, 12)) AS selfhost_cost
    FROM api_sized
),
api_rows AS (
    SELECT kind, model, feature, pool, monthly_input_tokens, monthly_cache_read_tokens,
           monthly_output_tokens, monthly_api_cost_usd,
           selfhost_cost AS monthly_selfhost_cost_usd,
           gpus_needed, gpu_hour_usd, gpu_hour_source, throughput_tokens_per_second,
           breakeven_tokens_per_gpu_month, breakeven_utilization,
           breakeven_utilization <= 1.0 AS breakeven_reachable,
           coverage_days, coverage_hours, lookback_from, lookback_to,
           CAST(NULL AS DOUBLE) AS actual_utilization,
           CAST(NULL AS DECIMAL(38, 12)) AS cost_per_million_tokens,
           CAST(NULL AS DECIMAL(38, 12)) AS api_cost_per_million_tokens,
           peak_output_tokens_per_second, replica_gpus, gpus_for_peak, monthly_ops_cost_usd,
           migration_cost_usd,
           CASE WHEN selfhost_cost < monthly_api_cost_usd
                THEN CAST(migration_cost_usd AS DOUBLE) / CAST(monthly_api_cost_usd - selfhost_cost AS DOUBLE)
           END AS payback_months,
           CASE WHEN selfhost_cost >= monthly_api_cost_usd THEN 'api'
                WHEN breakeven_utilization <= api_cheaper_below THEN 'selfhost'
                ELSE 'marginal'
           END AS verdict,
           CASE WHEN selfhost_cost >= monthly_api_cost_usd
                THEN CAST(0 AS DECIMAL(38, 12))
                ELSE monthly_api_cost_usd - selfhost_cost
           END AS monthly_saving_usd
    FROM api_costed
),
pool_usage AS (
    SELECT pool, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens
    FROM requests_daily WHERE pool IS NOT NULL GROUP BY pool
),
pool_cost AS (
    SELECT pool, SUM(cost_usd) AS cost_usd,
           SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) AS utilization,
           CAST(round(AVG(gpus)) AS BIGINT) AS gpus,
           COUNT(DISTINCT hour) AS billed_hours
    FROM hourly_utilization GROUP BY pool
),
pool_rows AS (
    SELECT
        'pool' AS kind,
        p.api_model AS model,
        CAST(NULL AS VARCHAR) AS feature,
        c.pool,
        CAST(round(COALESCE(u.input_tokens, 0) * f.per_month_f) AS BIGINT) AS monthly_input_tokens,
        CAST(0 AS BIGINT) AS monthly_cache_read_tokens,
        CAST(round(COALESCE(u.output_tokens, 0) * f.per_month_f) AS BIGINT) AS monthly_output_tokens,
        CAST((COALESCE(u.input_tokens, 0) * p.input_per_token + COALESCE(u.output_tokens, 0) * p.output_per_token) * f.per_month AS DECIMAL(38, 12)) AS monthly_api_cost_usd,
        CAST(c.cost_usd * f.hours_per_month / CAST(c.billed_hours AS DECIMAL(20, 0)) AS DECIMAL(38, 12)) AS monthly_selfhost_cost_usd,
        c.gpus AS gpus_needed,
        CAST(NULL AS DECIMAL(38, 6)) AS gpu_hour_usd,
        CAST(NULL AS VARCHAR) AS gpu_hour_source,
        CAST(NULL AS DOUBLE) AS throughput_tokens_per_second,
        CAST(NULL AS DOUBLE) AS breakeven_tokens_per_gpu_month,
        CAST(NULL AS DOUBLE) AS breakeven_utilization,
        CAST(NULL AS BOOLEAN) AS breakeven_reachable,
        f.request_days AS coverage_days,
        c.billed_hours AS coverage_hours,
        f.lookback_from, f.lookback_to,
        c.utilization AS actual_utilization,
        CASE WHEN COALESCE(u.input_tokens, 0) + COALESCE(u.output_tokens, 0) > 0
             THEN CAST(c.cost_usd * 1000000 / CAST(u.input_tokens + u.output_tokens AS DECIMAL(20, 0)) AS DECIMAL(38, 12))
        END AS cost_per_million_tokens,
        CASE WHEN COALESCE(u.input_tokens, 0) + COALESCE(u.output_tokens, 0) > 0
             THEN CAST((u.input_tokens * p.input_per_token + u.output_tokens * p.output_per_token) * 1000000
                       / CAST(u.input_tokens + u.output_tokens AS DECIMAL(20, 0)) AS DECIMAL(38, 12))
        END AS api_cost_per_million_tokens,
        CAST(NULL AS DOUBLE) AS peak_output_tokens_per_second,
        CAST(NULL AS BIGINT) AS replica_gpus,
        CAST(NULL AS BIGINT) AS gpus_for_peak,
        CAST(NULL AS DECIMAL(38, 12)) AS monthly_ops_cost_usd,
        CAST(NULL AS DECIMAL(38, 12)) AS migration_cost_usd,
        CAST(NULL AS DOUBLE) AS payback_months
    FROM pool_cost c
    CROSS JOIN factor f
    LEFT JOIN pool_usage u ON u.pool = c.pool
    LEFT JOIN pool_api_prices p ON p.pool = c.pool
),
pool_verdicts AS (
    SELECT pool_rows.*,
           CASE WHEN monthly_api_cost_usd IS NULL THEN 'unknown'
                WHEN monthly_selfhost_cost_usd <= monthly_api_cost_usd THEN 'selfhost'
                ELSE 'api' END AS verdict,
           CASE WHEN monthly_api_cost_usd IS NOT NULL AND monthly_selfhost_cost_usd > monthly_api_cost_usd
                THEN monthly_selfhost_cost_usd - monthly_api_cost_usd
                ELSE CAST(0 AS DECIMAL(38, 12)) END AS monthly_saving_usd
    FROM pool_rows
)
SELECT * FROM api_rows
UNION ALL
SELECT * FROM pool_verdicts
ORDER BY kind, monthly_saving_usd DESC, model, feature, pool
