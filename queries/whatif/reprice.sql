-- whatif: the API requests of a period repriced with substitute models (whatif_map) and/or
-- another price file (the `cost_of` this session registers), token counts kept, by team ×
-- feature × model.
--
-- Input: requests, whatif_map (model → substitute; empty in `sql`) and whatif_window (the
-- days to reprice, and token_change: the share by which the substitute's tokenizer may
-- count more or fewer tokens for the same text; 0 in `sql`). current_cost_usd is cost_of at today's prices for the logged model, so
-- both sides are priced alike (logged_cost_usd is what the run computed, batch discounts
-- and 1-hour cache writes included). The what-if is a range: whatif_cost_usd keeps the
-- logged cache reads and writes (the new model caches as the old did); whatif_cold_cache_usd
-- bills every prompt token as uncached input (its cache starts cold, or the substitute's
-- provider caches differently). With a token_change t, the low end also counts every
-- token × (1 − t) and the high end × (1 + t) (cost is linear in tokens). difference_low_usd
-- / difference_high_usd are the range of what-if − current; a substitute without a price
-- counts in unpriced_requests.
WITH period AS (
    SELECT r.team, r.feature, r.model, r.ts, r.input_tokens, r.cache_read_tokens,
           r.cache_write_tokens, r.output_tokens, r.cost_usd,
           COALESCE(m.substitute, r.model) AS substitute
    FROM requests r
    CROSS JOIN whatif_window w
    LEFT JOIN whatif_map m ON m.model = r.model
    WHERE r.pool IS NULL AND r.model IS NOT NULL
      AND r.date >= w.date_from AND r.date <= w.date_to
),
priced AS (
    SELECT *,
           cost_of(model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, ts)
               AS current_cost_usd,
           cost_of(substitute, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, ts)
               AS whatif_cost_usd,
           cost_of(substitute, input_tokens, 0, 0, output_tokens, ts) AS whatif_cold_cache_usd
    FROM period
),
grouped AS (
    SELECT COALESCE(team, '-') AS team, COALESCE(feature, '-') AS feature, model, substitute,
           COUNT(*) AS requests,
           SUM(cost_usd) AS logged_cost_usd,
           SUM(current_cost_usd) AS current_cost_usd,
           SUM(whatif_cost_usd) AS whatif_cost_usd,
           SUM(whatif_cold_cache_usd) AS whatif_cold_cache_usd,
           SUM(CASE WHEN whatif_cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_requests
    FROM priced
    GROUP BY 1, 2, 3, 4
)
SELECT team, feature, model, substitute, requests, logged_cost_usd, current_cost_usd,
       whatif_cost_usd, whatif_cold_cache_usd,
       CAST(least(whatif_cost_usd, whatif_cold_cache_usd)
                * (1 - CAST(w.token_change AS DECIMAL(10, 6))) AS DECIMAL(38, 12))
           - current_cost_usd AS difference_low_usd,
       CAST(greatest(whatif_cost_usd, whatif_cold_cache_usd)
                * (1 + CAST(w.token_change AS DECIMAL(10, 6))) AS DECIMAL(38, 12))
           - current_cost_usd AS difference_high_usd,
       unpriced_requests
FROM grouped CROSS JOIN whatif_window w
WHERE substitute <> model OR whatif_cost_usd IS DISTINCT FROM current_cost_usd
ORDER BY difference_low_usd, team, feature, model
