-- Rule cache_hit_low: a model × feature with material API spend (at least
-- economics.material_share of all API spend) whose prompt-cache hit ratio is under
-- economics.cache_hit_low. Saving: the cache gap (to the ideal cache where prompts carry
-- prefix identity, else to economics.cache_hit_target), priced per request, per month.
-- Where prompts carry prefix identity the ideal cache caps the claim: prompts that share no
-- prefix can cache nothing more (gap 0), however low their hit ratio, and get no finding.
WITH groups AS (
    SELECT model, feature,
           SUM(input_tokens) AS input_tokens,
           SUM(cache_read_tokens) AS cache_read_tokens,
           SUM(gap_usd) AS gap_usd
    FROM cache_opportunity
    GROUP BY model, feature
),
spend AS (
    SELECT model, feature, SUM(cost_usd) AS cost_usd
    FROM requests_daily WHERE pool IS NULL GROUP BY model, feature
),
total AS (SELECT SUM(cost_usd) AS cost_usd FROM requests_daily WHERE pool IS NULL)
SELECT
    'cache_hit_low' AS rule,
    CASE WHEN g.gap_usd * m.per_month >= 1000 THEN 'high' ELSE 'medium' END AS severity,
    'model ' || g.model || ' / feature ' || COALESCE(g.feature, '-') AS scope,
    'Prompt-cache hit ratio is ' || CAST(round(100.0 * g.cache_read_tokens / g.input_tokens, 1) AS VARCHAR)
        || '% (under ' || CAST(round(100.0 * e.cache_hit_low, 1) AS VARCHAR) || '%) on $'
        || CAST(CAST(s.cost_usd * m.per_month AS DECIMAL(20, 2)) AS VARCHAR) || ' a month of spend.' AS finding,
    'cache_opportunity, cache_hit_ratio: model = ''' || g.model || ''', feature = ''' || COALESCE(g.feature, '') || '''' AS evidence,
    CAST(g.gap_usd * m.per_month AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    'Restructure prompts so the stable part (system prompt, tools, documents) comes first and unchanged; enable provider prompt caching.' AS action,
    'model ' || g.model || ' / feature ' || COALESCE(g.feature, '-') AS acts_on,
    'stacks' AS combines
FROM groups g
JOIN spend s ON s.model = g.model AND s.feature IS NOT DISTINCT FROM g.feature
CROSS JOIN total t
CROSS JOIN economics e
CROSS JOIN month_factor m
WHERE g.input_tokens > 0
  AND g.gap_usd > 0
  AND CAST(g.cache_read_tokens AS DOUBLE) / g.input_tokens < e.cache_hit_low
  AND CAST(s.cost_usd AS DOUBLE) >= e.material_share * CAST(t.cost_usd AS DOUBLE)
