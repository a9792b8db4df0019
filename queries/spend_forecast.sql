-- spend_forecast: the month-to-date API spend of the month the run's window ends in, and a
-- projection to the month's end with a 95% interval, for all teams and for each.
--
-- Input: api_daily_spend (API spend per day × team × feature × model, from the month's
-- first day) and run_params (the window).
--
-- Observed days run from the month's first day (or the first day of API spend, if later)
-- to the window's last day; a day without spend counts as zero. The projection
-- adds the observed daily mean for each remaining day of the month; the interval treats
-- the days as independent draws around that mean: ±1.96 × the daily standard deviation ×
-- √(remaining + remaining² / observed) (the spread of the remaining days and the
-- uncertainty of the mean itself), never below what is already spent. GPU spend is not
-- forecast here: the bill already holds the month's committed charges.
WITH params AS (
    SELECT CAST(to_unixtime(CAST(window_to AS TIMESTAMP)) / 86400 AS BIGINT) AS as_of,
           CAST(to_unixtime(date_trunc('month', CAST(window_to AS TIMESTAMP))) / 86400 AS BIGINT)
               AS month_start,
           CAST(to_unixtime(date_trunc('month', CAST(window_to AS TIMESTAMP)) + INTERVAL '1 month')
                / 86400 AS BIGINT) AS next_month
    FROM run_params
),
-- Day numbers (days since 1970-01-01) of the spend.
spend AS (
    SELECT CAST(to_unixtime(CAST(date AS TIMESTAMP)) / 86400 AS BIGINT) AS day,
           team, SUM(cost_usd) AS cost_usd
    FROM api_daily_spend
    GROUP BY 1, 2
),
bounds AS (
    SELECT p.as_of, p.month_start, p.next_month,
           greatest(p.month_start, (SELECT MIN(day) FROM spend)) AS first_day
    FROM params p
),
days AS (
    SELECT b.first_day + o.k AS day
    FROM bounds b CROSS JOIN (SELECT unnest(range(0, 31)) AS k) o
    WHERE b.first_day + o.k <= b.as_of
),
scopes AS (
    SELECT 'all' AS scope, day, cost_usd FROM spend
    UNION ALL
    SELECT 'team:' || team, day, cost_usd FROM spend
),
filled AS (
    SELECT s.scope, d.day, COALESCE(SUM(c.cost_usd), CAST(0 AS DECIMAL(38, 12))) AS cost_usd
    FROM (SELECT DISTINCT scope FROM scopes) s
    CROSS JOIN days d
    LEFT JOIN scopes c ON c.scope = s.scope AND c.day = d.day
    GROUP BY s.scope, d.day
),
stats AS (
    SELECT f.scope, SUM(f.cost_usd) AS month_to_date_usd, COUNT(*) AS observed_days,
           AVG(CAST(f.cost_usd AS DOUBLE)) AS daily_mean,
           COALESCE(stddev_samp(CAST(f.cost_usd AS DOUBLE)), 0) AS daily_sd
    FROM filled f
    GROUP BY f.scope
),
projected AS (
    SELECT s.*, b.as_of, b.month_start, b.next_month - b.as_of - 1 AS remaining_days
    FROM stats s CROSS JOIN bounds b
)
SELECT
    to_char(to_timestamp_seconds(month_start * 86400), '%Y-%m') AS month,
    CAST(CAST(to_timestamp_seconds(as_of * 86400) AS DATE) AS VARCHAR) AS as_of,
    scope,
    month_to_date_usd,
    observed_days,
    remaining_days,
    CAST(daily_mean AS DECIMAL(38, 6)) AS daily_mean_usd,
    CAST(daily_sd AS DECIMAL(38, 6)) AS daily_sd_usd,
    CAST(month_to_date_usd + CAST(daily_mean * remaining_days AS DECIMAL(38, 6)) AS DECIMAL(38, 2))
        AS projected_usd,
    CAST(greatest(month_to_date_usd,
                  month_to_date_usd + CAST((daily_mean * remaining_days
                      - 1.96 * daily_sd * sqrt(remaining_days + CAST(remaining_days * remaining_days AS DOUBLE) / observed_days))
                      AS DECIMAL(38, 6))) AS DECIMAL(38, 2)) AS low_usd,
    CAST(month_to_date_usd + CAST((daily_mean * remaining_days
            + 1.96 * daily_sd * sqrt(remaining_days + CAST(remaining_days * remaining_days AS DOUBLE) / observed_days))
            AS DECIMAL(38, 6)) AS DECIMAL(38, 2)) AS high_usd
FROM projected
ORDER BY scope
