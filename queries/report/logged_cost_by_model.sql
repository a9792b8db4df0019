-- The cost computed here next to the cost the logs themselves state (LiteLLM's `spend`,
-- kept as requests.source_cost_usd), by provider and model, over the requests whose log
-- states one. The difference (computed − logged) and its share are over the requests both
-- sides price; unpriced_requests have a logged cost and no price here.
SELECT
    provider,
    model,
    COUNT(*) AS requests,
    COUNT(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_requests,
    SUM(cost_usd) AS computed_cost_usd,
    SUM(source_cost_usd) AS logged_cost_usd,
    SUM(cost_usd - source_cost_usd) AS difference_usd,
    CASE WHEN SUM(CASE WHEN cost_usd IS NOT NULL THEN source_cost_usd END) <> 0
         THEN CAST(SUM(cost_usd - source_cost_usd) AS DOUBLE)
              / CAST(SUM(CASE WHEN cost_usd IS NOT NULL THEN source_cost_usd END) AS DOUBLE)
    END AS difference_share
FROM requests
WHERE source_cost_usd IS NOT NULL
GROUP BY provider, model
ORDER BY ABS(SUM(cost_usd - source_cost_usd)) DESC NULLS FIRST, provider, model
