-- month_factor (internal): how a run's figures scale to a month: 30.4375 days over the
-- number of days with requests (or, without requests, with GPU bills). The decimal factor
-- is rounded to 10 places.
WITH days AS (
    SELECT GREATEST(
        (SELECT COUNT(DISTINCT date) FROM requests),
        (SELECT COUNT(DISTINCT date) FROM gpu_billing_hourly),
        1
    ) AS days
)
SELECT days,
       CAST(30.4375 / CAST(days AS DOUBLE) AS DECIMAL(20, 10)) AS per_month,
       30.4375 / CAST(days AS DOUBLE) AS per_month_f
FROM days
