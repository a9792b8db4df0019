-- Daily spend (API and self-hosted GPU) by team, for report.html's stacked bars.
SELECT date, COALESCE(team, '(none)') AS team, CAST(SUM(total_cost_usd) AS DOUBLE) AS cost
FROM cost_attribution
GROUP BY date, COALESCE(team, '(none)')
ORDER BY date, team
