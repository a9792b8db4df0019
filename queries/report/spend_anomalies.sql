-- The window's spend anomalies, largest impact first.
SELECT date, team, feature, model, severity, cost_usd, expected_cost_usd, impact_usd, explanation
FROM spend_anomalies
ORDER BY impact_usd DESC, date, team, feature, model
