-- Rule abandoned_spend: a team × feature where abandoned interactions take more than
-- economics.abandoned_share of the spend. Saving: the abandoned spend a month (an upper
-- bound: what fixing the cause of abandonment is worth at most; it is not added to the
-- combined total in savings_by_spend).
WITH groups AS (
    SELECT team, feature, SUM(cost_usd) AS cost_usd, SUM(abandoned_cost_usd) AS abandoned_cost_usd
    FROM interaction_costs
    GROUP BY team, feature
)
SELECT
    'abandoned_spend' AS rule,
    'medium' AS severity,
    'team ' || COALESCE(g.team, '-') || ' / feature ' || COALESCE(g.feature, '-') AS scope,
    CAST(round(100.0 * CAST(g.abandoned_cost_usd AS DOUBLE) / CAST(g.cost_usd AS DOUBLE), 1) AS VARCHAR)
        || '% of the spend ($' || CAST(CAST(g.abandoned_cost_usd * m.per_month AS DECIMAL(20, 2)) AS VARCHAR)
        || ' a month) goes to interactions users abandon.' AS finding,
    'interaction_costs, interactions: team = ''' || COALESCE(g.team, '') || ''', feature = ''' || COALESCE(g.feature, '') || ''', completed = false' AS evidence,
    CAST(g.abandoned_cost_usd * m.per_month AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Look at why these interactions end unfinished (errors, timeouts, answers users give up on) before optimising their cost.' AS action,
    CAST(NULL AS VARCHAR) AS acts_on,
    'upper_bound' AS combines
FROM groups g
CROSS JOIN economics e
CROSS JOIN month_factor m
WHERE g.cost_usd > 0 AND CAST(g.abandoned_cost_usd AS DOUBLE) > e.abandoned_share * CAST(g.cost_usd AS DOUBLE)
