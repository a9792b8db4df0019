-- reconciliation: what the logs say each provider should bill, against what the provider's
-- own exports say it counted and billed, per day × provider × model, with the reason for
-- the difference.
--
-- Input: provider_usage_staged (the [[provider_usage]] exports' results of the run's
-- window: usage rows with requests and tokens, cost rows with dollars; tokens on the
-- requests table's footing, input = every prompt token), requests_daily (requests summed
-- by day, over the lookback: earlier nights' published requests and this run's), run_params and reconcile_settings
-- (tolerance: share of the larger side; tolerance_usd).
--
-- Only the days and providers an export covers are reconciled (a provider with no export
-- has nothing to be set against); the AI API lines of the cloud bills (Bedrock, Vertex AI,
-- Azure OpenAI, staged by the billing sources) are cost exports of those providers. Models
-- are matched as their price entry names them, without a `provider/` prefix and without a
-- trailing date (`gpt-4o-2024-08-06` and `gpt-4o` are one model). Self-hosted
-- requests (pool set) are paid through the GPU bill and left out. Cost exports are daily;
-- usage exports of 1m or 1h buckets are summed to the day, the width both sides allow.
--
-- reason, the first that fits:
--   missing_logs       the provider counts more requests and tokens than the logs hold,
--                      in proportion (or billed the model on a day the logs show none of
--                      it, while the logs show it on other days)
--   unlogged_model     only the provider saw this model
--   logged_not_billed  the logs hold requests the export does not
--   unpriced_model     the catalog has no price for some of the logged requests
--   cache_accounting   prompt and output tokens agree, the cache-read split does not
--   unexplained        tokens differ in another pattern
--   batch_or_tier      tokens agree, cost differs, and batch or another service tier was used
--   price              tokens agree, cost differs: a negotiated rate or a price change
--   ok                 every figure within tolerance
WITH exported AS (
    SELECT CAST(CAST(bucket_start AS DATE) AS VARCHAR) AS date, provider, kind,
           regexp_replace(regexp_replace(lower(model), '^[^/]*/', ''),
                          '-20[0-9]{2}-?[0-9]{2}-?[0-9]{2}$', '') AS model,
           requests, input_tokens, cache_read_tokens, output_tokens, cost_usd,
           COALESCE(batch, false)
               OR COALESCE(lower(service_tier) NOT IN ('default', 'standard', 'auto'), false)
               AS batch_or_tier
    FROM provider_usage_staged
),
covered AS (
    SELECT DISTINCT date, provider FROM exported
),
-- The days each provider's usage export and cost export cover: there, a model the export
-- does not list counted 0 (requests only where the export counts requests).
usage_covered AS (
    SELECT date, provider, BOOL_OR(requests IS NOT NULL) AS counts_requests
    FROM exported WHERE kind = 'usage' GROUP BY date, provider
),
cost_covered AS (
    SELECT DISTINCT date, provider FROM exported WHERE kind = 'cost'
),
usage AS (
    SELECT date, provider, model, SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
           SUM(cache_read_tokens) AS cache_read_tokens, SUM(output_tokens) AS output_tokens,
           BOOL_OR(batch_or_tier) AS batch_or_tier
    FROM exported WHERE kind = 'usage'
    GROUP BY date, provider, model
),
billed AS (
    SELECT date, provider, model, SUM(cost_usd) AS cost_usd
    FROM exported WHERE kind = 'cost'
    GROUP BY date, provider, model
),
logged_all AS (
    -- A priced request's model as its price entry names it (a Bedrock id such as
    -- us.anthropic.claude-3-5-sonnet-20240620-v1:0 is the catalog's claude-3-5-sonnet),
    -- else as logged.
    SELECT date, provider,
           regexp_replace(regexp_replace(lower(
               CASE WHEN price_id LIKE 'catalog:%' OR price_id LIKE 'litellm:%'
                    THEN split_part(substr(price_id, strpos(price_id, ':') + 1), '@', 1)
                    ELSE model END), '^[^/]*/', ''),
                          '-20[0-9]{2}-?[0-9]{2}-?[0-9]{2}$', '') AS model,
           SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
           SUM(cache_read_tokens) AS cache_read_tokens, SUM(output_tokens) AS output_tokens,
           SUM(cost_usd) AS cost_usd,
           SUM(CASE WHEN NOT priced THEN requests ELSE 0 END) AS unpriced_requests,
           -- Batch, or a named service tier (price ids `…+priority`, `…+flex`).
           SUM(CASE WHEN batch OR price_id LIKE '%+priority%' OR price_id LIKE '%+flex%'
                    THEN requests ELSE 0 END) AS batch_requests
    FROM requests_daily
    WHERE pool IS NULL AND model IS NOT NULL
    GROUP BY 1, 2, 3
),
logged AS (
    SELECT l.* FROM covered c JOIN logged_all l ON l.date = c.date AND l.provider = c.provider
),
-- Models the logs show on some day of the lookback, for a day they show none of.
logged_models AS (
    SELECT DISTINCT provider, model FROM logged_all
),
keys AS (
    SELECT date, provider, model FROM logged
    UNION SELECT date, provider, model FROM usage
    UNION SELECT date, provider, model FROM billed
),
joined AS (
    SELECT k.date, k.provider, k.model,
           l.requests AS logged_requests,
           CASE WHEN uc.counts_requests THEN COALESCE(u.requests, 0) END AS billed_requests,
           l.input_tokens AS logged_input_tokens,
           CASE WHEN uc.date IS NOT NULL THEN COALESCE(u.input_tokens, 0) END AS billed_input_tokens,
           l.cache_read_tokens AS logged_cache_read_tokens,
           CASE WHEN uc.date IS NOT NULL THEN COALESCE(u.cache_read_tokens, 0) END
               AS billed_cache_read_tokens,
           l.output_tokens AS logged_output_tokens,
           CASE WHEN uc.date IS NOT NULL THEN COALESCE(u.output_tokens, 0) END AS billed_output_tokens,
           l.cost_usd AS logged_cost_usd,
           CASE WHEN cc.date IS NOT NULL THEN COALESCE(b.cost_usd, CAST(0 AS DECIMAL(38, 12))) END
               AS billed_cost_usd,
           l.unpriced_requests, l.batch_requests, u.batch_or_tier,
           lm.model IS NOT NULL AS logged_elsewhere,
           s.tolerance, s.tolerance_usd
    FROM keys k
    LEFT JOIN logged l ON l.date = k.date AND l.provider = k.provider AND l.model = k.model
    LEFT JOIN usage u ON u.date = k.date AND u.provider = k.provider AND u.model = k.model
    LEFT JOIN billed b ON b.date = k.date AND b.provider = k.provider AND b.model = k.model
    LEFT JOIN logged_models lm ON lm.provider = k.provider AND lm.model = k.model
    LEFT JOIN usage_covered uc ON uc.date = k.date AND uc.provider = k.provider
    LEFT JOIN cost_covered cc ON cc.date = k.date AND cc.provider = k.provider
    CROSS JOIN reconcile_settings s
),
judged AS (
    SELECT j.*,
           -- Two counts agree within the tolerance share of the larger.
           abs(CAST(billed_input_tokens AS DOUBLE) - logged_input_tokens)
               <= tolerance * greatest(billed_input_tokens, logged_input_tokens) AS input_agrees,
           abs(CAST(billed_output_tokens AS DOUBLE) - logged_output_tokens)
               <= tolerance * greatest(billed_output_tokens, logged_output_tokens) AS output_agrees,
           abs(CAST(billed_cache_read_tokens AS DOUBLE) - logged_cache_read_tokens)
               <= tolerance * greatest(billed_cache_read_tokens, logged_cache_read_tokens) AS cache_agrees,
           billed_input_tokens > logged_input_tokens * (1 + tolerance)
               AND billed_output_tokens > logged_output_tokens * (1 + tolerance)
               AND (billed_requests IS NULL
                    OR billed_requests > logged_requests * (1 + tolerance)) AS provider_counts_more,
           abs(billed_cost_usd - logged_cost_usd)
               <= greatest(CAST(tolerance AS DECIMAL(38, 12))
                           * greatest(abs(billed_cost_usd), abs(logged_cost_usd)),
                           tolerance_usd) AS cost_agrees
    FROM joined j
),
reasoned AS (
    SELECT j.*,
           CASE
               WHEN logged_requests IS NULL AND logged_elsewhere THEN 'missing_logs'
               WHEN logged_requests IS NULL THEN 'unlogged_model'
               WHEN COALESCE(billed_input_tokens, 0) = 0 AND COALESCE(billed_cost_usd, 0) = 0
                    THEN 'logged_not_billed'
               WHEN unpriced_requests > 0 AND billed_cost_usd IS NOT NULL THEN 'unpriced_model'
               WHEN billed_input_tokens IS NOT NULL AND provider_counts_more THEN 'missing_logs'
               WHEN billed_input_tokens IS NOT NULL AND input_agrees AND output_agrees
                    AND NOT cache_agrees THEN 'cache_accounting'
               WHEN billed_input_tokens IS NOT NULL AND NOT (input_agrees AND output_agrees)
                    THEN 'unexplained'
               WHEN billed_cost_usd IS NOT NULL AND NOT cost_agrees
                    AND (COALESCE(batch_or_tier, false) OR batch_requests > 0) THEN 'batch_or_tier'
               WHEN billed_cost_usd IS NOT NULL AND NOT cost_agrees THEN 'price'
               ELSE 'ok'
           END AS reason
    FROM judged j
)
SELECT
    date, provider, model, reason,
    logged_requests, billed_requests,
    logged_input_tokens, billed_input_tokens,
    logged_cache_read_tokens, billed_cache_read_tokens,
    logged_output_tokens, billed_output_tokens,
    logged_cost_usd, billed_cost_usd,
    billed_requests - COALESCE(logged_requests, 0) AS requests_difference,
    billed_input_tokens - COALESCE(logged_input_tokens, 0) AS input_tokens_difference,
    billed_cache_read_tokens - COALESCE(logged_cache_read_tokens, 0) AS cache_read_tokens_difference,
    billed_output_tokens - COALESCE(logged_output_tokens, 0) AS output_tokens_difference,
    CASE WHEN billed_cost_usd IS NOT NULL
         THEN billed_cost_usd - COALESCE(logged_cost_usd, CAST(0 AS DECIMAL(38, 12))) END
        AS cost_difference_usd,
    CASE reason
        WHEN 'missing_logs' THEN
            CASE WHEN logged_requests IS NULL
                 THEN 'the provider billed this model on a day the logs hold none of it (they hold it on other days): a log file or source is missing'
                 ELSE 'the provider counts ' || CAST(round(100.0 * billed_input_tokens / logged_input_tokens - 100, 1) AS VARCHAR)
                      || '% more prompt tokens than the logs hold (requests and output alike): part of the traffic is not logged'
            END
        WHEN 'unlogged_model' THEN 'only the provider saw this model: no log source records it (an unlogged integration, key or project)'
        WHEN 'logged_not_billed' THEN 'the logs hold requests the export does not (another account, project or key outside the export?)'
        WHEN 'unpriced_model' THEN 'the price catalog has no price for ' || CAST(unpriced_requests AS VARCHAR) || ' of the logged requests: add one ([prices] or inferledger prices)'
        WHEN 'cache_accounting' THEN 'prompt and output tokens agree but cache reads differ (logs ' || CAST(logged_cache_read_tokens AS VARCHAR) || ', provider ' || CAST(billed_cache_read_tokens AS VARCHAR) || '): cached tokens counted as uncached on one side'
        WHEN 'unexplained' THEN 'tokens differ without a known pattern: check the log sources and the export''s filters'
        WHEN 'batch_or_tier' THEN 'tokens agree, cost differs, and part of the traffic went through batch or another service tier'
        WHEN 'price' THEN 'tokens agree but the provider billed ' || CAST(round(100.0 * CAST(billed_cost_usd - logged_cost_usd AS DOUBLE) / CAST(logged_cost_usd AS DOUBLE), 1) AS VARCHAR)
                          || '% against the catalog price: a negotiated rate or a price change the catalog lacks (inferledger prices --propose writes the entry)'
        ELSE 'within tolerance'
    END AS explanation
FROM reasoned
ORDER BY date, provider, model
