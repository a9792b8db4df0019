-- month_factor (internal): how the decision tables scale the lookback's figures to a
-- month, each by the days its own data covers. The decision steps read the published
-- history of the last [economics] lookback_days days ending on the run's last day
-- (run_params.lookback_from .. lookback_to; pipeline/history.rs), so a one-night run and a
-- full run ending on the same day decide the same.
--   request_days  days with requests in the lookback; API figures × 30.4375 / request_days
--                 (per_month, decimal rounded to 10 places; per_month_f for token counts)
--   billed_hours  distinct hours with GPU billing in the lookback; GPU figures × 730.5 /
--                 billed_hours (gpu_per_month)
SELECT
    p.lookback_from,
    p.lookback_to,
    d.request_days,
    CAST(30.4375 / CAST(d.request_days AS DOUBLE) AS DECIMAL(20, 10)) AS per_month,
    30.4375 / CAST(d.request_days AS DOUBLE) AS per_month_f,
    h.billed_hours,
    CAST(CAST(730.5 AS DECIMAL(10, 1)) / CAST(h.billed_hours AS DECIMAL(20, 0)) AS DECIMAL(20, 10)) AS gpu_per_month
FROM run_params p
CROSS JOIN (SELECT GREATEST(COUNT(DISTINCT date), 1) AS request_days FROM requests_daily) d
CROSS JOIN (SELECT GREATEST(COUNT(DISTINCT hour), 1) AS billed_hours FROM gpu_billing_hourly) h
