-- Rule billing_variance_unexplained: a provider billed materially more or less than the
-- logs account for, in a pattern reconciliation cannot explain (reason `unexplained`: token
-- counts differ other than as missing logs): every figure for that provider is in doubt
-- until the difference is found. Material: at least $1 and 1% of what the provider billed.
SELECT
    'billing_variance_unexplained' AS rule,
    'high' AS severity,
    'provider ' || provider AS scope,
    provider || ' billed ' || CAST(CAST(SUM(billed_cost_usd) AS DECIMAL(38, 2)) AS VARCHAR)
        || ' USD over ' || CAST(COUNT(DISTINCT date) AS VARCHAR) || ' days in which its token counts differ from the logs'' without a known pattern: '
        || CAST(CAST(SUM(abs(cost_difference_usd)) AS DECIMAL(38, 2)) AS VARCHAR) || ' USD unexplained.' AS finding,
    'reconciliation: provider = ''' || provider || ''', reason = ''unexplained''' AS evidence,
    CAST(0 AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Compare the log sources with the export''s filters (projects, API keys, workspaces): a gateway or key that does not log, or a log that double-counts.' AS action,
    CAST(NULL AS VARCHAR) AS acts_on,
    'none' AS combines
FROM reconciliation
WHERE reason = 'unexplained'
GROUP BY provider
HAVING SUM(abs(cost_difference_usd)) >= 1
   AND SUM(abs(cost_difference_usd)) >= 0.01 * SUM(abs(billed_cost_usd))
