-- Rule cache_writes_outweigh_reads: a model × feature whose cache writes cost more above
-- the input price than its cache reads saved, over every request of the model × feature
-- (a read is usually a request that writes nothing: what the writes bought). Saving: the
-- difference, per month.
WITH groups AS (
    SELECT model, feature,
           SUM(cache_saved_usd) AS saved, SUM(cache_write_premium_usd) AS premium,
           SUM(cache_write_1h_tokens) AS written_1h, SUM(cache_write_tokens) AS written
    FROM requests_daily
    WHERE pool IS NULL
    GROUP BY model, feature
    HAVING SUM(cache_write_tokens) > 0
)
SELECT
    'cache_writes_outweigh_reads' AS rule,
    'medium' AS severity,
    'model ' || model || ' / feature ' || COALESCE(feature, '-') AS scope,
    'Cache writes cost $' || CAST(CAST(premium * m.per_month AS DECIMAL(20, 2)) AS VARCHAR)
        || ' a month above plain input while cache reads saved $'
        || CAST(CAST(saved * m.per_month AS DECIMAL(20, 2)) AS VARCHAR) || '.' AS finding,
    'requests: model = ''' || model || ''', feature = ''' || COALESCE(feature, '') || ''', cache_write_premium_usd vs cache_saved_usd' AS evidence,
    CAST((premium - saved) * m.per_month AS DECIMAL(38, 12)) AS est_monthly_savings_usd,
    CASE WHEN written_1h * 2 > written
         THEN 'Most writes use the 1-hour TTL (2× input): use the 5-minute TTL (1.25×) unless the prefix is reused after more than 5 minutes, or stop caching prompts that are not reused.'
         ELSE 'Writes are not read back: cache only the stable prefix that later requests reuse, or consider the 1-hour TTL if reuse comes after more than 5 minutes.'
    END AS action,
    'model ' || model || ' / feature ' || COALESCE(feature, '-') AS acts_on,
    'stacks' AS combines
FROM groups CROSS JOIN month_factor m
WHERE premium > saved
