-- Models with no price: their requests have cost_usd NULL (unknown, never 0). Self-hosted
-- requests (pool set) are paid through the GPU bill and are not unpriced.
SELECT
    COALESCE(model, '(none)') AS model,
    COUNT(*) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens
FROM requests
WHERE cost_usd IS NULL AND pool IS NULL
GROUP BY model
ORDER BY requests DESC, model
