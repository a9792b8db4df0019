-- month_factor (internal): how the decision tables scale the lookback's figures to a
-- month, each by the days its own data covers. The decision steps read the published
-- history of the last [economics] lookback_days days ending on the run's last day
-- (run_params.lookback_from .. lookback_to; pipeline/analyze/history.rs), so a one-night run and a
-- full run ending on the same day decide the same.
--   request_days  days with requests in the lookback; API figures × days_per_month / request_days
--                 (per_month, decimal rounded to 10 places; per_month_f for token counts)
--   billed_hours  distinct hours with GPU billing in the lookback; GPU figures × hours_per_month /
--                 billed_hours (gpu_per_month)
--   days_per_month, hours_per_month  a month's length (run_params; 365.25 / 12 days, and
--                 24 times that in hours), the figures above are scaled to
SELECT
    p.lookback_from,
    p.lookback_to,
    d.request_days,
    CAST(CAST(p.days_per_month AS DOUBLE) / CAST(d.request_days AS DOUBLE) AS DECIMAL(20, 10)) AS per_month,
    CAST(p.days_per_month AS DOUBLE) / CAST(d.request_days AS DOUBLE) AS per_month_f,
    h.billed_hours,
    CAST(p.hours_per_month / CAST(h.billed_hours AS DECIMAL(20, 0)) AS DECIMAL(20, 10)) AS gpu_per_month,
    p.days_per_month,
    p.hours_per_month
FROM run_params p
CROSS JOIN (SELECT GREATEST(COUNT(DISTINCT date), 1) AS request_days FROM requests_daily) d
CROSS JOIN (SELECT GREATEST(COUNT(DISTINCT hour), 1) AS billed_hours FROM gpu_billing_hourly) h
