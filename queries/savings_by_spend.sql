-- savings_by_spend: the recommendations' monthly savings with each dollar counted once.
-- Rules act on a spend (`acts_on`: an API model × feature, or a pool). On one spend, rules
-- that are steps one can take together stack: each saves its share of what the others
-- left (a cache fix, then the batch discount on the rest, then fewer tokens), so the
-- combined share is 1 − Π(1 − share). Rules that are alternatives (self-host this
-- workload, move this pool to the API, right-size it) do not add: the best one counts.
-- combined = spend × max(stacked share, best alternative share). abandoned_spend (an upper
-- bound) and rules that claim no saving are left out. overlap_usd is what adding up the
-- rules' own figures would have counted twice.
WITH shares AS (
    SELECT r.acts_on, r.rule, r.combines, r.est_monthly_savings_usd AS saving,
           w.monthly_spend_usd AS spend,
           LEAST(CAST(r.est_monthly_savings_usd AS DOUBLE) / CAST(w.monthly_spend_usd AS DOUBLE), 1.0) AS share
    FROM recommendations r
    JOIN workload_spend w ON w.acts_on = r.acts_on
    WHERE r.combines IN ('stacks', 'alternative')
      AND r.est_monthly_savings_usd > 0 AND w.monthly_spend_usd > 0
),
per_spend AS (
    SELECT acts_on,
           MAX(spend) AS spend,
           COUNT(*) AS rules,
           array_to_string(array_sort(array_agg(rule)), ', ') AS rule_names,
           SUM(saving) AS rules_sum,
           1.0 - exp(SUM(CASE WHEN combines = 'stacks' THEN ln(1.0 - LEAST(share, 0.999999999999)) ELSE 0.0 END)) AS stacked_share,
           COALESCE(MAX(CASE WHEN combines = 'alternative' THEN share END), 0.0) AS best_alternative_share,
           MAX(CASE WHEN combines = 'alternative' THEN saving END) AS best_alternative
    FROM shares
    GROUP BY acts_on
),
combined AS (
    -- The best alternative counts at its own (exact) figure; stacked shares multiply.
    SELECT p.*,
           CASE WHEN best_alternative_share > stacked_share THEN 'best alternative' ELSE 'stacked' END AS how,
           CASE WHEN best_alternative_share > stacked_share THEN best_alternative
                ELSE CAST(p.spend * CAST(stacked_share AS DECIMAL(20, 12)) AS DECIMAL(38, 12))
           END AS combined_savings
    FROM per_spend p
)
SELECT acts_on,
       spend AS monthly_spend_usd,
       rules,
       rule_names,
       rules_sum AS rules_sum_usd,
       LEAST(combined_savings, rules_sum) AS combined_monthly_savings_usd,
       rules_sum - LEAST(combined_savings, rules_sum) AS overlap_usd,
       how
FROM combined
ORDER BY combined_monthly_savings_usd DESC, acts_on
