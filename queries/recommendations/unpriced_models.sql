-- Rule unpriced_models: API requests whose model has no price: their cost is unknown, so
-- every total understates spend.
SELECT
    'unpriced_models' AS rule,
    'medium' AS severity,
    'model ' || COALESCE(model, '(none)') AS scope,
    CAST(SUM(requests) AS VARCHAR) || ' requests (' || CAST(SUM(input_tokens + output_tokens) AS VARCHAR)
        || ' tokens) of ' || COALESCE(model, '(no model)') || ' have no price; their cost is missing from every total.' AS finding,
    'requests: model = ''' || COALESCE(model, '') || ''', cost_usd IS NULL' AS evidence,
    CAST(0 AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Add the model to a LiteLLM-format price file ([prices] file) or map it to a catalog name.' AS action,
    CAST(NULL AS VARCHAR) AS acts_on,
    'none' AS combines
FROM requests_daily
WHERE NOT priced AND pool IS NULL
GROUP BY model
