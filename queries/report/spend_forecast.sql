-- The month-end forecast of API spend, all teams first.
SELECT month, as_of, scope, month_to_date_usd, projected_usd, low_usd, high_usd, remaining_days
FROM spend_forecast
ORDER BY scope = 'all' DESC, projected_usd DESC, scope
