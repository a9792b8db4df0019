-- Cost per completed interaction by team and feature, all dates of the run together, API
-- and GPU together (cost_usd is the total; api_cost_usd and gpu_cost_usd its parts).
SELECT
    team,
    feature,
    SUM(interactions) AS interactions,
    SUM(completed_interactions) AS completed_interactions,
    CAST(SUM(completed_interactions) AS DOUBLE) / CAST(SUM(interactions) AS DOUBLE) AS completion_rate,
    SUM(cost_usd) AS api_cost_usd,
    SUM(gpu_cost_usd) AS gpu_cost_usd,
    SUM(total_cost_usd) AS cost_usd,
    CASE WHEN SUM(completed_interactions) > 0
         THEN CAST(CAST(SUM(total_cost_usd) AS DECIMAL(30, 12))
                   / CAST(SUM(completed_interactions) AS DECIMAL(20, 0)) AS DECIMAL(38, 12))
    END AS cost_per_completed_interaction,
    SUM(abandoned_cost_usd) AS abandoned_cost_usd
FROM interaction_costs
GROUP BY team, feature
ORDER BY cost_usd DESC NULLS LAST, team, feature
