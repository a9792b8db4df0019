-- Spend by month in the quarter: API (per token) and self-hosted GPU (from the bills),
-- with how much of the month the history covers (days with any spend / days in the
-- month): a month with 7 of 30 days is not a month's spend.
SELECT
    substr(date, 1, 7) AS month,
    COUNT(DISTINCT date) AS days_with_data,
    CAST(date_part('day', to_date(substr(MIN(date), 1, 7) || '-01') + INTERVAL '1 month' - INTERVAL '1 day') AS BIGINT) AS days_in_month,
    SUM(cost_usd) AS api_cost_usd,
    SUM(gpu_cost_usd) AS gpu_cost_usd,
    SUM(total_cost_usd) AS total_cost_usd
FROM cost_attribution
WHERE date >= (SELECT quarter_start FROM review_params) AND date < (SELECT quarter_end FROM review_params)
GROUP BY substr(date, 1, 7)
ORDER BY month
