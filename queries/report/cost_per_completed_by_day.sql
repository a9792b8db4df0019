-- Cost per completed interaction (API and GPU) by day and feature, for report.html.
SELECT date, COALESCE(feature, '(none)') AS feature,
       CAST(SUM(total_cost_usd) AS DOUBLE) / SUM(completed_interactions) AS per_completed
FROM interaction_costs
WHERE total_cost_usd > 0
GROUP BY date, COALESCE(feature, '(none)')
HAVING SUM(completed_interactions) > 0
ORDER BY date, feature
