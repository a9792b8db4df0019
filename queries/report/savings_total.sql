-- The recommendations' total a month, each dollar counted once (savings_by_spend), beside
-- what adding up the rules' own figures would say, and the upper bound left out
-- (abandoned_spend).
SELECT
    COALESCE((SELECT SUM(combined_monthly_savings_usd) FROM savings_by_spend), CAST(0 AS DECIMAL(38, 12))) AS combined_monthly_savings_usd,
    COALESCE((SELECT SUM(rules_sum_usd) FROM savings_by_spend), CAST(0 AS DECIMAL(38, 12))) AS rules_sum_usd,
    COALESCE((SELECT SUM(overlap_usd) FROM savings_by_spend), CAST(0 AS DECIMAL(38, 12))) AS overlap_usd,
    COALESCE((SELECT SUM(est_monthly_savings_usd) FROM recommendations WHERE combines = 'upper_bound'), CAST(0 AS DECIMAL(38, 12))) AS upper_bound_usd
