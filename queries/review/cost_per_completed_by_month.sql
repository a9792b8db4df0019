-- Cost per completed interaction by month and feature, API and GPU together (cost_usd is
-- the total: api_cost_usd per token + gpu_cost_usd, the self-hosted requests' share of the
-- GPU bill), all the group's cost over its completed interactions, so abandoned work is
-- priced in; the same figure as report.md's, by month.
SELECT
    substr(date, 1, 7) AS month,
    feature,
    SUM(interactions) AS interactions,
    SUM(completed_interactions) AS completed_interactions,
    SUM(cost_usd) AS api_cost_usd,
    SUM(gpu_cost_usd) AS gpu_cost_usd,
    SUM(total_cost_usd) AS cost_usd,
    CASE WHEN SUM(completed_interactions) > 0
         THEN CAST(CAST(SUM(total_cost_usd) AS DECIMAL(30, 12)) / CAST(SUM(completed_interactions) AS DECIMAL(20, 0)) AS DECIMAL(38, 12))
    END AS cost_per_completed_interaction
FROM interaction_costs
WHERE date >= (SELECT quarter_start FROM review_params) AND date < (SELECT quarter_end FROM review_params)
GROUP BY substr(date, 1, 7), feature
ORDER BY month, cost_usd DESC NULLS LAST, feature
