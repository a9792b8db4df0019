-- Quarter over quarter: the quarter's spend and its days of data beside the quarter before
-- (where the history has it), spend per day of data so that partial quarters compare.
WITH quarters AS (
    SELECT CASE WHEN date >= (SELECT quarter_start FROM review_params) THEN 'this quarter' ELSE 'previous quarter' END AS quarter,
           date, cost_usd, gpu_cost_usd, total_cost_usd
    FROM cost_attribution
    WHERE date >= (SELECT previous_quarter_start FROM review_params)
      AND date < (SELECT quarter_end FROM review_params)
)
SELECT quarter,
       COUNT(DISTINCT date) AS days_with_data,
       SUM(cost_usd) AS api_cost_usd,
       SUM(gpu_cost_usd) AS gpu_cost_usd,
       SUM(total_cost_usd) AS total_cost_usd,
       CAST(SUM(total_cost_usd) / CAST(COUNT(DISTINCT date) AS DECIMAL(20, 0)) AS DECIMAL(38, 12)) AS total_cost_per_day_usd
FROM quarters
GROUP BY quarter
ORDER BY quarter DESC
