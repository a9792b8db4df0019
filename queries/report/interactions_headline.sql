-- Interactions of a run: how many completed, the cost per completed one (API and GPU
-- together, abandoned work priced in), how much of that cost is API (per token) and how
-- much GPU (self-hosted requests' share of the bill), and the median interaction's cost
-- (a few huge batch interactions move the mean, not the median).
SELECT
    COUNT(*) AS interactions,
    SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS completed_interactions,
    CAST(SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE) AS completion_rate,
    SUM(cost_usd) AS api_cost_usd,
    SUM(gpu_cost_usd) AS gpu_cost_usd,
    SUM(total_cost_usd) AS cost_usd,
    CASE WHEN SUM(CASE WHEN completed THEN 1 ELSE 0 END) > 0
         THEN CAST(CAST(SUM(total_cost_usd) AS DECIMAL(30, 12))
                   / CAST(SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS DECIMAL(20, 0)) AS DECIMAL(38, 12))
    END AS cost_per_completed_interaction,
    CAST(SUM(cost_usd) AS DOUBLE) / NULLIF(CAST(SUM(total_cost_usd) AS DOUBLE), 0) AS api_share,
    CAST(median(total_cost_usd) AS DECIMAL(38, 12)) AS median_cost_per_interaction,
    SUM(CASE WHEN NOT completed THEN total_cost_usd END) AS abandoned_cost_usd
FROM interactions
