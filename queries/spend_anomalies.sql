-- spend_anomalies: days whose API spend on a team × feature × model jumped above its normal
-- level, each with the tokens that grew and the dollars at stake.
--
-- Input: api_daily_spend (API spend per day × team × feature × model of the window and the
-- 28 days before it) and run_params (the window).
--
-- For each day of the window with spend on a key (team × feature × model of API requests),
-- the baseline is the key's trailing 28 days, zero-filled from the key's first day of
-- spend: median daily cost (and of requests, uncached prompt tokens, cache reads, output
-- tokens), the scaled median absolute deviation (1.4826 × MAD, the robust standard
-- deviation) and the median of the same weekday's days (7, 14, 21, 28 days before), so a
-- key that always spends more on Mondays is not flagged every Monday. A day is an anomaly
-- when its cost exceeds the larger of the two medians by more than 3 robust deviations
-- and by at least $1, with at least 14 days of baseline. impact_usd is the cost above the
-- larger median; severity is high from $100, medium from $10, else low.
--
-- Why it rose: the day's cost against the key's median day, split into three factors that
-- multiply to it exactly: requests (volume) × tokens per request × price per token
-- (cost / tokens: the model's prices and the token mix, e.g. more output or fewer cache
-- reads), each the day's figure over the median day's (median requests, median tokens,
-- median cost). `driver` names the factor that rose most; the explanation gives all
-- three and, for the token mix, each token kind against its own median.
WITH daily AS (
    SELECT CAST(to_unixtime(CAST(date AS TIMESTAMP)) / 86400 AS BIGINT) AS day_number,
           team, feature, model, cost_usd, requests, uncached_tokens, cache_read_tokens,
           output_tokens, uncached_tokens + cache_read_tokens + output_tokens AS tokens
    FROM api_daily_spend
),
first_days AS (
    SELECT team, feature, model, MIN(day_number) AS first_day FROM daily GROUP BY 1, 2, 3
),
judged AS (
    SELECT d.*
    FROM daily d CROSS JOIN run_params p
    WHERE d.day_number >= CAST(to_unixtime(CAST(p.window_from AS TIMESTAMP)) / 86400 AS BIGINT)
      AND d.day_number <= CAST(to_unixtime(CAST(p.window_to AS TIMESTAMP)) / 86400 AS BIGINT)
),
-- Each judged day's 28 previous days since the key's first, zero where it spent nothing.
past AS (
    SELECT j.team, j.feature, j.model, j.day_number, o.k % 7 = 0 AS same_weekday,
           COALESCE(d.cost_usd, CAST(0 AS DECIMAL(38, 12))) AS cost_usd,
           CAST(COALESCE(d.requests, 0) AS DOUBLE) AS requests,
           CAST(COALESCE(d.uncached_tokens, 0) AS DOUBLE) AS uncached_tokens,
           CAST(COALESCE(d.cache_read_tokens, 0) AS DOUBLE) AS cache_read_tokens,
           CAST(COALESCE(d.output_tokens, 0) AS DOUBLE) AS output_tokens,
           CAST(COALESCE(d.tokens, 0) AS DOUBLE) AS tokens
    FROM judged j
    CROSS JOIN (SELECT unnest(range(1, 29)) AS k) o
    JOIN first_days f ON f.team = j.team AND f.feature = j.feature AND f.model = j.model
    LEFT JOIN daily d
      ON d.team = j.team AND d.feature = j.feature AND d.model = j.model
     AND d.day_number = j.day_number - o.k
    WHERE j.day_number - o.k >= f.first_day
),
baseline AS (
    SELECT team, feature, model, day_number, COUNT(*) AS baseline_days,
           median(cost_usd) AS median_cost_usd,
           median(CASE WHEN same_weekday THEN cost_usd END) AS weekday_median_cost_usd,
           median(requests) AS median_requests, median(uncached_tokens) AS median_uncached_tokens,
           median(cache_read_tokens) AS median_cache_read_tokens,
           median(output_tokens) AS median_output_tokens,
           median(tokens) AS median_tokens
    FROM past
    GROUP BY 1, 2, 3, 4
),
spread AS (
    SELECT p.team, p.feature, p.model, p.day_number,
           median(abs(p.cost_usd - b.median_cost_usd)) * CAST(1.4826 AS DECIMAL(10, 4))
               AS robust_deviation_usd
    FROM past p
    JOIN baseline b
      ON b.team = p.team AND b.feature = p.feature AND b.model = p.model
     AND b.day_number = p.day_number
    GROUP BY 1, 2, 3, 4
),
scored AS (
    SELECT j.*, b.baseline_days, b.median_cost_usd, b.weekday_median_cost_usd,
           greatest(b.median_cost_usd, COALESCE(b.weekday_median_cost_usd, b.median_cost_usd))
               AS expected_cost_usd,
           s.robust_deviation_usd,
           -- Each component against its median: 1 when both are zero, NULL (new) when
           -- only the median is.
           CASE WHEN b.median_requests = 0 THEN CASE WHEN j.requests = 0 THEN 1.0 END
                ELSE j.requests / b.median_requests END AS requests_ratio,
           CASE WHEN b.median_uncached_tokens = 0 THEN CASE WHEN j.uncached_tokens = 0 THEN 1.0 END
                ELSE j.uncached_tokens / b.median_uncached_tokens END AS uncached_ratio,
           CASE WHEN b.median_cache_read_tokens = 0 THEN CASE WHEN j.cache_read_tokens = 0 THEN 1.0 END
                ELSE j.cache_read_tokens / b.median_cache_read_tokens END AS cache_read_ratio,
           CASE WHEN b.median_output_tokens = 0 THEN CASE WHEN j.output_tokens = 0 THEN 1.0 END
                ELSE j.output_tokens / b.median_output_tokens END AS output_ratio,
           -- The three factors of cost / median cost (NULL where the median day has none).
           CASE WHEN b.median_requests > 0 THEN j.requests / b.median_requests END AS requests_factor,
           CASE WHEN b.median_requests > 0 AND b.median_tokens > 0 AND j.requests > 0
                THEN (CAST(j.tokens AS DOUBLE) / j.requests) / (b.median_tokens / b.median_requests)
           END AS tokens_per_request_factor,
           CASE WHEN b.median_tokens > 0 AND b.median_cost_usd > 0 AND j.tokens > 0
                THEN (CAST(j.cost_usd AS DOUBLE) / j.tokens) / (CAST(b.median_cost_usd AS DOUBLE) / b.median_tokens)
           END AS price_per_token_factor
    FROM judged j
    JOIN baseline b
      ON b.team = j.team AND b.feature = j.feature AND b.model = j.model
     AND b.day_number = j.day_number
    JOIN spread s
      ON s.team = j.team AND s.feature = j.feature AND s.model = j.model
     AND s.day_number = j.day_number
),
flagged AS (
    SELECT *, cost_usd - expected_cost_usd AS impact_usd
    FROM scored
    WHERE baseline_days >= 14
      AND cost_usd > expected_cost_usd + 3 * robust_deviation_usd
      AND cost_usd - expected_cost_usd >= 1
),
-- The factor that rose most (a key whose median day had no spend is new spend).
grown AS (
    SELECT *,
           CASE
               WHEN requests_factor IS NULL OR tokens_per_request_factor IS NULL OR price_per_token_factor IS NULL
                   THEN 'new spend'
               WHEN requests_factor >= greatest(tokens_per_request_factor, price_per_token_factor)
                   THEN 'requests'
               WHEN tokens_per_request_factor >= price_per_token_factor
                   THEN 'tokens per request'
               ELSE 'price per token'
           END AS driver
    FROM flagged
)
SELECT
    CAST(CAST(to_timestamp_seconds(day_number * 86400) AS DATE) AS VARCHAR) AS date,
    team, feature, model,
    cost_usd, expected_cost_usd, median_cost_usd, weekday_median_cost_usd, robust_deviation_usd,
    impact_usd, baseline_days,
    CASE WHEN impact_usd >= 100 THEN 'high' WHEN impact_usd >= 10 THEN 'medium' ELSE 'low' END
        AS severity,
    requests, uncached_tokens, cache_read_tokens, output_tokens,
    requests_factor, tokens_per_request_factor, price_per_token_factor, driver,
    CASE driver
        WHEN 'requests' THEN 'volume: requests'
        WHEN 'tokens per request' THEN 'tokens per request'
        WHEN 'price per token' THEN 'price per token (the model''s prices or the token mix)'
        ELSE 'new spend: its median day spent nothing'
    END || CASE WHEN driver = 'new spend' THEN '' ELSE ' rose most' END
        || '; cost ' || COALESCE(CAST(round(CAST(cost_usd AS DOUBLE) / NULLIF(CAST(median_cost_usd AS DOUBLE), 0), 1) AS VARCHAR) || '×', 'new')
        || ' its 28-day median day = requests ' || COALESCE(CAST(round(requests_factor, 1) AS VARCHAR) || '×', 'new')
        || ' × tokens per request ' || COALESCE(CAST(round(tokens_per_request_factor, 1) AS VARCHAR) || '×', 'new')
        || ' × price per token ' || COALESCE(CAST(round(price_per_token_factor, 1) AS VARCHAR) || '×', 'new')
        || ' (uncached prompt ' || COALESCE(CAST(round(uncached_ratio, 1) AS VARCHAR) || '×', 'new')
        || ', cache reads ' || COALESCE(CAST(round(cache_read_ratio, 1) AS VARCHAR) || '×', 'new')
        || ', output ' || COALESCE(CAST(round(output_ratio, 1) AS VARCHAR) || '×', 'new')
        || ' their medians)' AS explanation
FROM grown
ORDER BY date, impact_usd DESC, team, feature, model
