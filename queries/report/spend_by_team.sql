-- All AI spend by team and feature, all dates of the run together: API (per token) and
-- self-hosted GPU (attributed from the bills; '__idle__' and '__unassigned__' rows).
SELECT
    team,
    feature,
    SUM(requests) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(cost_usd) AS api_cost_usd,
    SUM(gpu_cost_usd) AS gpu_cost_usd,
    SUM(total_cost_usd) AS total_cost_usd
FROM cost_attribution
GROUP BY team, feature
ORDER BY total_cost_usd DESC NULLS LAST, team, feature
