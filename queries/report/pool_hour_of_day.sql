-- Pool utilisation by hour of day (UTC), against the marks users quote: 15–25% typical
-- of self-hosted fleets, 30% (below it an API would have been cheaper), 60% (above it
-- self-hosting wins).
SELECT
    pool,
    CAST(date_part('hour', hour) AS BIGINT) AS hour_of_day,
    SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) AS utilization,
    CASE
        WHEN SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) >= 0.60 THEN 'above 60%: self-hosting wins'
        WHEN SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) >= 0.30 THEN '30–60%'
        WHEN SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) >= 0.15 THEN '15–30%: typical, API likely cheaper'
        ELSE 'under 15%'
    END AS mark
FROM hourly_utilization
GROUP BY pool, CAST(date_part('hour', hour) AS BIGINT)
ORDER BY pool, hour_of_day
