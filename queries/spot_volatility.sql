-- spot_volatility: spot (dynamic-priced) GPU capacity by GPU model × region × month, over
-- the bills of this run (a run-scoped table, replaced whole by each run).
--
-- Input: gpu_billing_hourly rows with pricing_category 'spot' (usage rows with GPU-hours;
-- credits without GPU-hours are left out of prices), pools, economics. The effective price
-- of a resource-hour is its cost / GPU-hours (decimal). swing = max / min − 1;
-- `volatile` when it exceeds economics.spot_swing (users quote 40% within a month).
-- production_pools names the pools with environment 'production' that ran on spot.
WITH priced AS (
    SELECT
        b.gpu_model,
        b.region,
        to_char(b.hour, '%Y-%m') AS month,
        b.pool,
        p.environment,
        b.gpu_hours,
        b.cost_usd,
        CAST(b.cost_usd / CAST(b.gpu_hours AS DECIMAL(38, 6)) AS DECIMAL(38, 12)) AS price_per_gpu_hour
    FROM gpu_billing_hourly b
    LEFT JOIN pools p ON b.pool = p.pool
    WHERE b.pricing_category = 'spot' AND b.gpu_hours > 0
)
SELECT
    gpu_model,
    region,
    month,
    MIN(price_per_gpu_hour) AS min_price_per_gpu_hour,
    CAST(median(price_per_gpu_hour) AS DECIMAL(38, 12)) AS median_price_per_gpu_hour,
    MAX(price_per_gpu_hour) AS max_price_per_gpu_hour,
    CAST(MAX(price_per_gpu_hour) AS DOUBLE) / CAST(MIN(price_per_gpu_hour) AS DOUBLE) - 1.0 AS swing,
    COUNT(*) AS spot_resource_hours,
    SUM(gpu_hours) AS spot_gpu_hours,
    SUM(cost_usd) AS spot_cost_usd,
    NULLIF(array_to_string(array_sort(array_agg(DISTINCT pool)), ','), '') AS pools,
    NULLIF(array_to_string(array_sort(array_agg(DISTINCT CASE WHEN environment = 'production' THEN pool END)), ','), '') AS production_pools,
    CAST(MAX(price_per_gpu_hour) AS DOUBLE) / CAST(MIN(price_per_gpu_hour) AS DOUBLE) - 1.0
        > (SELECT spot_swing FROM economics) AS volatile
FROM priced
GROUP BY gpu_model, region, month
ORDER BY month, gpu_model, region
