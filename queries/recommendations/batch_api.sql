-- Rule batch_api: a non-interactive feature (its name says batch, offline, nightly,
-- digest or report, or none of its requests names a user) sending requests to an API
-- without the batch discount. Saving: economics.batch_discount of that spend a month.
WITH features AS (
    SELECT provider, model, feature,
           SUM(cost_usd) AS cost_usd,
           SUM(requests_with_user) AS with_user
    FROM requests_daily
    WHERE pool IS NULL AND NOT batch AND priced
    GROUP BY provider, model, feature
)
SELECT
    'batch_api' AS rule,
    'medium' AS severity,
    'model ' || f.model || ' / feature ' || COALESCE(f.feature, '-') AS scope,
    'Feature ' || COALESCE(f.feature, '-') || ' has no user waiting but sends $'
        || CAST(CAST(f.cost_usd * m.per_month AS DECIMAL(20, 2)) AS VARCHAR) || ' a month of requests at interactive prices.' AS finding,
    'requests: model = ''' || f.model || ''', feature = ''' || COALESCE(f.feature, '') || ''', batch = false' AS evidence,
    CAST(f.cost_usd * m.per_month * CAST(e.batch_discount AS DECIMAL(10, 6)) AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Send these requests through the provider''s batch API (results within 24 hours at a discount).' AS action,
    'model ' || f.model || ' / feature ' || COALESCE(f.feature, '-') AS acts_on,
    'stacks' AS combines
FROM features f
CROSS JOIN economics e
CROSS JOIN month_factor m
WHERE regexp_like(COALESCE(f.feature, ''), '(batch|offline|nightly|digest|report)', 'i') OR f.with_user = 0
