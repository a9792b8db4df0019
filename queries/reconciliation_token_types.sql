-- reconciliation_token_types: where a provider's cost export breaks a model's day out by
-- token type (OpenAI's line items `…, input`, `…, cached input`, `…, output`; Anthropic's
-- token_type), the logs' cost of that model and day split the same way, against it. A
-- model-day's rows add up to its row in `reconciliation`: read them to see where a
-- difference sits (all of it on cache reads: the cache split; every part alike: a price).
--
-- Input: provider_usage_staged (cost rows with a token type) and requests. Token types are
-- put in four words: input (uncached prompt tokens), cache_read, cache_write, output. The
-- logs' parts come from each request's own priced columns, exactly: with X = cost −
-- output cost + cache saving − cache-write premium (every prompt token at the input price,
-- batch discount and tier included), cache reads cost X × reads / prompt tokens − saving,
-- cache writes X × writes / prompt tokens + premium, output its own column, and uncached
-- input the rest, so the four add up to the request's cost.
WITH typed AS (
    SELECT CAST(CAST(bucket_start AS DATE) AS VARCHAR) AS date, provider,
           regexp_replace(regexp_replace(lower(model), '^[^/]*/', ''),
                          '-20[0-9]{2}-?[0-9]{2}-?[0-9]{2}$', '') AS model,
           CASE
               WHEN lower(token_type) LIKE 'uncached%' THEN 'input'
               WHEN lower(token_type) LIKE 'cache_read%' OR lower(token_type) LIKE 'cached%'
                   THEN 'cache_read'
               WHEN lower(token_type) LIKE 'cache_creation%' OR lower(token_type) LIKE 'cache_write%'
                    OR lower(token_type) LIKE 'cache write%' THEN 'cache_write'
               WHEN lower(token_type) LIKE '%output%' THEN 'output'
               WHEN lower(token_type) LIKE '%input%' THEN 'input'
           END AS token_type,
           cost_usd
    FROM provider_usage_staged
    WHERE kind = 'cost' AND token_type IS NOT NULL
),
billed AS (
    SELECT date, provider, model, token_type, SUM(cost_usd) AS billed_cost_usd
    FROM typed WHERE token_type IS NOT NULL
    GROUP BY 1, 2, 3, 4
),
days AS (
    SELECT DISTINCT date, provider, model FROM billed
),
parts AS (
    SELECT r.date, r.provider,
           regexp_replace(regexp_replace(lower(
               CASE WHEN r.price_id LIKE 'catalog:%' OR r.price_id LIKE 'litellm:%'
                    THEN split_part(substr(r.price_id, strpos(r.price_id, ':') + 1), '@', 1)
                    ELSE r.model END), '^[^/]*/', ''),
                          '-20[0-9]{2}-?[0-9]{2}-?[0-9]{2}$', '') AS model,
           r.cost_usd, r.output_cost_usd,
           CASE WHEN r.input_tokens > 0
                THEN CAST((r.cost_usd - r.output_cost_usd + r.cache_saved_usd - r.cache_write_premium_usd)
                          * r.cache_read_tokens / r.input_tokens AS DECIMAL(38, 12))
                     - r.cache_saved_usd
                ELSE CAST(0 AS DECIMAL(38, 12)) END AS cache_read_cost,
           CASE WHEN r.input_tokens > 0
                THEN CAST((r.cost_usd - r.output_cost_usd + r.cache_saved_usd - r.cache_write_premium_usd)
                          * r.cache_write_tokens / r.input_tokens AS DECIMAL(38, 12))
                     + r.cache_write_premium_usd
                ELSE CAST(0 AS DECIMAL(38, 12)) END AS cache_write_cost
    FROM requests r
    WHERE r.pool IS NULL AND r.model IS NOT NULL AND r.cost_usd IS NOT NULL
),
logged AS (
    SELECT p.date, p.provider, p.model,
           SUM(p.cost_usd - p.output_cost_usd - p.cache_read_cost - p.cache_write_cost) AS input,
           SUM(p.cache_read_cost) AS cache_read,
           SUM(p.cache_write_cost) AS cache_write,
           SUM(p.output_cost_usd) AS output
    FROM days d
    JOIN parts p ON p.date = d.date AND p.provider = d.provider AND p.model = d.model
    GROUP BY 1, 2, 3
),
logged_typed AS (
    SELECT date, provider, model, 'input' AS token_type, input AS logged_cost_usd FROM logged
    UNION ALL SELECT date, provider, model, 'cache_read', cache_read FROM logged
    UNION ALL SELECT date, provider, model, 'cache_write', cache_write FROM logged
    UNION ALL SELECT date, provider, model, 'output', output FROM logged
),
joined AS (
    SELECT COALESCE(b.date, l.date) AS date, COALESCE(b.provider, l.provider) AS provider,
           COALESCE(b.model, l.model) AS model, COALESCE(b.token_type, l.token_type) AS token_type,
           l.logged_cost_usd,
           COALESCE(b.billed_cost_usd, CAST(0 AS DECIMAL(38, 12))) AS billed_cost_usd
    FROM billed b
    FULL JOIN logged_typed l
      ON l.date = b.date AND l.provider = b.provider AND l.model = b.model
     AND l.token_type = b.token_type
)
SELECT date, provider, model, token_type, logged_cost_usd, billed_cost_usd,
       billed_cost_usd - COALESCE(logged_cost_usd, CAST(0 AS DECIMAL(38, 12))) AS cost_difference_usd
FROM joined
WHERE COALESCE(logged_cost_usd, CAST(0 AS DECIMAL(38, 12))) <> 0 OR billed_cost_usd <> 0
ORDER BY date, provider, model, token_type
