-- gpu_billing_hourly: GPU spend per hour and resource, from every [[billing]] export.
--
-- Input: billing_staged (GPU rows only, each already spread evenly over the clock hours it
-- covers, with exact decimal shares). A resource's rows of one hour and pricing category
-- (usage, credits, corrections) are added up. `pool` is NULL for GPU spend no [[pools]]
-- rule claims (reported as unassigned).
SELECT
    hour,
    provider,
    resource_id,
    pool,
    gpu_model,
    MAX(gpus) AS gpus,
    pricing_category,
    region,
    instance_type,
    SUM(gpu_hours) AS gpu_hours,
    SUM(cost_usd) AS cost_usd,
    COUNT(*) AS billing_rows,
    to_char(hour, '%Y-%m-%d') AS date
FROM billing_staged
GROUP BY hour, provider, resource_id, pool, gpu_model, pricing_category, region, instance_type
ORDER BY hour, pool, resource_id, pricing_category
