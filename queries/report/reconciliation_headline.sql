-- Logged vs billed per provider and month: what the logs priced at the catalog against what
-- the provider's cost export billed, over the days and providers an export covers; the
-- difference; and how much of it a reason explains (every reason but `unexplained`;
-- differences within tolerance count as explained).
SELECT provider,
       substr(date, 1, 7) AS month,
       CAST(SUM(CASE WHEN billed_cost_usd IS NOT NULL THEN COALESCE(logged_cost_usd, 0) END) AS DECIMAL(38, 2)) AS logged_cost_usd,
       CAST(SUM(billed_cost_usd) AS DECIMAL(38, 2)) AS billed_cost_usd,
       CAST(SUM(cost_difference_usd) AS DECIMAL(38, 2)) AS difference_usd,
       1 - CAST(SUM(CASE WHEN reason = 'unexplained' THEN abs(cost_difference_usd) ELSE 0 END) AS DOUBLE)
           / NULLIF(CAST(SUM(abs(cost_difference_usd)) AS DOUBLE), 0) AS explained_share,
       string_agg(DISTINCT CASE WHEN reason <> 'ok' THEN reason END, ', ') AS reasons
FROM reconciliation
GROUP BY provider, substr(date, 1, 7)
ORDER BY provider, month
