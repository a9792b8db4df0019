-- Rule token_diet: a team × feature where 10% fewer tokens would save more a month than
-- an engineer costs (economics.engineer_month_usd). Saving: 10% of its monthly spend
-- (API and attributed GPU).
WITH spend AS (
    -- API spend scales by request days, GPU spend by billed hours (month_factor).
    SELECT c.team, c.feature,
           COALESCE(SUM(c.cost_usd), 0) * MAX(m.per_month)
               + COALESCE(SUM(c.gpu_cost_usd), 0) * MAX(m.gpu_per_month) AS monthly_cost_usd
    FROM cost_attribution c CROSS JOIN month_factor m
    WHERE c.team NOT IN ('__idle__', '__unassigned__')
    GROUP BY c.team, c.feature
)
SELECT
    'token_diet' AS rule,
    'medium' AS severity,
    'team ' || COALESCE(s.team, '-') || ' / feature ' || COALESCE(s.feature, '-') AS scope,
    'Spends $' || CAST(CAST(s.monthly_cost_usd AS DECIMAL(20, 2)) AS VARCHAR)
        || ' a month: 10% fewer tokens would save more than an engineer-month ($'
        || CAST(CAST(e.engineer_month_usd AS DECIMAL(20, 2)) AS VARCHAR) || ').' AS finding,
    'cost_attribution: team = ''' || COALESCE(s.team, '') || ''', feature = ''' || COALESCE(s.feature, '') || '''' AS evidence,
    CAST(s.monthly_cost_usd * CAST(0.1 AS DECIMAL(3, 1)) AS DECIMAL(38, 2)) AS est_monthly_savings_usd,
    'Trim prompts (retrieved context, history, examples) and cap output lengths; measure tokens per completed interaction before and after.' AS action
FROM spend s
CROSS JOIN economics e
CROSS JOIN month_factor m
WHERE s.monthly_cost_usd * CAST(0.1 AS DECIMAL(3, 1)) > e.engineer_month_usd
