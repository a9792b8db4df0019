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
-- larger median; severity is high from $100, medium from $10, else low. The explanation
-- names what grew most against its own median.
WITH daily AS (
    SELECT CAST(to_unixtime(CAST(date AS TIMESTAMP)) / 86400 AS BIGINT) AS day_number,
           team, feature, model, cost_usd, requests, uncached_tokens, cache_read_tokens,
           output_tokens
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
           CAST(COALESCE(d.output_tokens, 0) AS DOUBLE) AS output_tokens
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
           median(output_tokens) AS median_output_tokens
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
                ELSE j.output_tokens / b.median_output_tokens END AS output_ratio
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
-- What grew most against its own median (a component with a zero median counts as new).
grown AS (
    SELECT *,
           CASE
               WHEN COALESCE(output_ratio, 1e9) >= greatest(COALESCE(uncached_ratio, 1e9), COALESCE(requests_ratio, 1e9), COALESCE(cache_read_ratio, 1e9))
                   THEN 'output tokens'
               WHEN COALESCE(uncached_ratio, 1e9) >= greatest(COALESCE(requests_ratio, 1e9), COALESCE(cache_read_ratio, 1e9))
                   THEN 'uncached prompt tokens (cache misses)'
               WHEN COALESCE(requests_ratio, 1e9) >= COALESCE(cache_read_ratio, 1e9)
                   THEN 'requests'
               ELSE 'cache reads'
           END AS grew
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
    grew || ' grew most: requests ' || COALESCE(CAST(round(requests_ratio, 1) AS VARCHAR) || '×', 'new')
        || ', uncached prompt ' || COALESCE(CAST(round(uncached_ratio, 1) AS VARCHAR) || '×', 'new')
        || ', cache reads ' || COALESCE(CAST(round(cache_read_ratio, 1) AS VARCHAR) || '×', 'new')
        || ', output ' || COALESCE(CAST(round(output_ratio, 1) AS VARCHAR) || '×', 'new')
        || ' their 28-day medians' AS explanation
FROM grown
ORDER BY date, impact_usd DESC, team, feature, model
