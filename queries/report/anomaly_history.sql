-- How much spend history the anomaly detection read: the first day with priced API spend
-- (within the window and the 28 days before it) and the window's last day. A day is judged
-- only against at least 14 days of spend before it.
SELECT MIN(a.date) AS first_day,
       MAX(p.window_to) AS last_day,
       CAST((to_unixtime(CAST(MAX(p.window_to) AS TIMESTAMP)) - to_unixtime(CAST(MIN(a.date) AS TIMESTAMP))) / 86400 AS BIGINT) AS days_before_last
FROM api_daily_spend a CROSS JOIN run_params p
