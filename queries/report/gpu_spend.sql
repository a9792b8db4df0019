-- GPU spend reconciled: billed = attributed + idle + unassigned.
SELECT
    (SELECT COALESCE(SUM(cost_usd), CAST(0 AS DECIMAL(38, 12))) FROM gpu_billing_hourly) AS billed_usd,
    (SELECT COALESCE(SUM(gpu_cost_usd), CAST(0 AS DECIMAL(38, 12))) FROM gpu_cost_attribution WHERE team <> '__idle__') AS attributed_usd,
    (SELECT COALESCE(SUM(gpu_cost_usd), CAST(0 AS DECIMAL(38, 12))) FROM gpu_cost_attribution WHERE team = '__idle__') AS idle_usd,
    (SELECT COALESCE(SUM(cost_usd), CAST(0 AS DECIMAL(38, 12))) FROM gpu_billing_hourly WHERE pool IS NULL) AS unassigned_usd
