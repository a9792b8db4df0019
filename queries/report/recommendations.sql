-- The recommendations as both reports list them: what saves a month now first, then at
-- renewal (report.md shows the first ten).
SELECT rule, severity, scope, est_monthly_savings_usd, realisable, commitment_ends,
       saving_at_renewal_usd, confidence, finding, action
FROM recommendations
ORDER BY est_monthly_savings_usd DESC, saving_at_renewal_usd DESC, rule, scope
