-- Models with no price: their requests have cost_usd NULL (unknown, never 0). Self-hosted
-- requests (pool set) are paid through the GPU bill and are not unpriced.
SELECT
    COALESCE(model, '(none)') AS model,
    SUM(requests) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens
FROM requests_daily
WHERE NOT priced AND pool IS NULL
GROUP BY model
ORDER BY requests DESC, model
