-- report.html's cards: cost per completed interaction (API and GPU), the API prompt-cache
-- hit ratio, and the fleet's utilisation (busy / billed GPU-hours).
SELECT
    (SELECT cost_per_completed_interaction FROM (
        SELECT CASE WHEN SUM(CASE WHEN completed THEN 1 ELSE 0 END) > 0
                    THEN CAST(CAST(SUM(total_cost_usd) AS DECIMAL(30, 12))
                              / CAST(SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS DECIMAL(20, 0)) AS DECIMAL(38, 12))
               END AS cost_per_completed_interaction
        FROM interactions)) AS per_completed,
    (SELECT CAST(SUM(cache_read_tokens) AS DOUBLE) / NULLIF(CAST(SUM(input_tokens) AS DOUBLE), 0)
     FROM requests_daily WHERE pool IS NULL) AS hit_ratio,
    (SELECT SUM(busy_gpu_hours) / NULLIF(SUM(gpu_hours_billed), 0) FROM hourly_utilization) AS fleet
