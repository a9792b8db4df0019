-- Right-sizing per pool (pool_rightsizing): GPUs billed, needed at the peak at the target
-- utilisation, hours of the day that could run on fewer, and the monthly saving.
SELECT pool,
       MAX(billed_gpus) AS billed_gpus,
       MAX(peak_gpus_needed) AS gpus_needed_at_peak,
       MIN(gpus_needed) AS gpus_needed_quietest_hour,
       SUM(CASE WHEN removable_gpus > 0 THEN 1 ELSE 0 END) AS hours_to_scale_down,
       SUM(monthly_saving_usd) AS monthly_saving_usd,
       SUM(saving_at_renewal_usd) AS saving_at_renewal_usd
FROM pool_rightsizing
GROUP BY pool
ORDER BY monthly_saving_usd DESC, pool
