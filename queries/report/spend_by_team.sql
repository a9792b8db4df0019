-- API spend by team and feature, all dates of the run together.
SELECT
    team,
    feature,
    SUM(requests) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(cost_usd) AS cost_usd
FROM cost_attribution
GROUP BY team, feature
ORDER BY cost_usd DESC NULLS LAST, team, feature
