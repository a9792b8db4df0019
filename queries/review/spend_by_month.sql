-- Spend by month in the quarter: API (per token) and self-hosted GPU (from the bills).
SELECT
    substr(date, 1, 7) AS month,
    SUM(cost_usd) AS api_cost_usd,
    SUM(gpu_cost_usd) AS gpu_cost_usd,
    SUM(total_cost_usd) AS total_cost_usd
FROM cost_attribution
WHERE date >= (SELECT quarter_start FROM review_params) AND date < (SELECT quarter_end FROM review_params)
GROUP BY substr(date, 1, 7)
ORDER BY month
