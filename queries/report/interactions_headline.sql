-- API interactions of a run (no self-hosted request in them): how many completed, and the
-- cost per completed one.
SELECT
    COUNT(*) AS interactions,
    SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS completed_interactions,
    CAST(SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE) AS completion_rate,
    SUM(cost_usd) AS cost_usd,
    CASE WHEN SUM(CASE WHEN completed THEN 1 ELSE 0 END) > 0
         THEN CAST(CAST(SUM(cost_usd) AS DECIMAL(30, 12))
                   / CAST(SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS DECIMAL(20, 0)) AS DECIMAL(38, 12))
    END AS cost_per_completed_interaction,
    SUM(CASE WHEN NOT completed THEN cost_usd END) AS abandoned_cost_usd
FROM interactions
WHERE self_hosted_requests = 0
