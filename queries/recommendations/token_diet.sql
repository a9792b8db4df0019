-- Rule token_diet: a model × feature whose API spend is big enough that 10% fewer tokens
-- would save more a month than an engineer costs (economics.engineer_month_usd). Saving:
-- 10% of its monthly API spend. Only API spend counts: fewer tokens on a self-hosted pool
-- save nothing until GPUs are given back (pool_right_size says when they can be). It
-- stacks with the other API rules on the same spend (savings_by_spend combines them).
SELECT
    'token_diet' AS rule,
    'medium' AS severity,
    w.acts_on AS scope,
    'Spends $' || CAST(CAST(w.monthly_spend_usd AS DECIMAL(20, 2)) AS VARCHAR)
        || ' a month on the API: 10% fewer tokens would save more than an engineer-month ($'
        || CAST(CAST(e.engineer_month_usd AS DECIMAL(20, 2)) AS VARCHAR) || ').' AS finding,
    'requests: ' || w.acts_on || ', pool IS NULL' AS evidence,
    CAST(w.monthly_spend_usd * CAST(0.1 AS DECIMAL(3, 1)) AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Trim prompts (retrieved context, history, examples) and cap output lengths; measure tokens per completed interaction before and after.' AS action,
    w.acts_on AS acts_on,
    'stacks' AS combines
FROM workload_spend w
CROSS JOIN economics e
WHERE w.acts_on LIKE 'model %'
  AND w.monthly_spend_usd * CAST(0.1 AS DECIMAL(3, 1)) > e.engineer_month_usd
