-- pool_rightsizing: how many GPUs each pool needs, by hour of day, at the target
-- utilisation (economics.selfhost_wins_above), and what giving back the rest would save.
-- Utilisation, not price, decides self-hosting's economics: this is the lever.
--
-- Input: hourly_utilization and gpu_billing_hourly over the lookback (the run's
-- month_factor). For each pool and hour of day (UTC): billed_gpus is the GPUs billed at that
-- hour on an average day (rounded down), peak_busy_gpus the most GPUs busy at that hour on
-- any day (busy_gpu_hours), gpus_needed = ceil(peak_busy_gpus / target) (at least one while
-- anything ran). GPUs go back whole instances at a time (instance_gpus: the pool's
-- smallest instance), so removable_gpus = instance_gpus × floor((billed − needed) /
-- instance_gpus). The saving prices them at the pool's GPU-hour price (its cost / billed
-- GPU-hours), run_params.days_per_month times a month; capacity that is committed (reserved, savings plans)
-- is paid whether used or not: its saving comes only at renewal (monthly_saving_usd 0,
-- saving_at_renewal_usd instead). peak_gpus_needed is the whole pool's need at its busiest
-- hour.
WITH hours AS (
    SELECT pool, hour, CAST(date_part('hour', hour) AS BIGINT) AS hour_of_day, gpus,
           gpu_hours_billed, busy_gpu_hours, cost_usd
    FROM hourly_utilization
),
pool_price AS (
    SELECT pool,
           CAST(SUM(cost_usd) / CAST(SUM(gpu_hours_billed) AS DECIMAL(38, 6)) AS DECIMAL(38, 12)) AS gpu_hour_usd,
           MAX(busy_gpu_hours) AS peak_busy_gpus
    FROM hours
    WHERE gpu_hours_billed > 0
    GROUP BY pool
),
capacity AS (
    SELECT pool,
           MIN(gpus) AS instance_gpus,
           SUM(CASE WHEN pricing_category = 'committed' THEN cost_usd ELSE CAST(0 AS DECIMAL(38, 12)) END)
               >= SUM(cost_usd) * CAST(0.5 AS DECIMAL(2, 1)) AS committed
    FROM (SELECT pool, resource_id, pricing_category, MAX(gpus) AS gpus, SUM(cost_usd) AS cost_usd
          FROM gpu_billing_hourly WHERE pool IS NOT NULL
          GROUP BY pool, resource_id, pricing_category) per_resource
    GROUP BY pool
),
by_hour AS (
    SELECT pool, hour_of_day,
           CAST(floor(AVG(CAST(gpus AS DOUBLE))) AS BIGINT) AS billed_gpus,
           MAX(busy_gpu_hours) AS peak_busy_gpus,
           COUNT(*) AS days_observed
    FROM hours
    GROUP BY pool, hour_of_day
),
needed AS (
    SELECT b.*, e.selfhost_wins_above AS target_utilization,
           CAST(CASE WHEN b.peak_busy_gpus > 0
                     THEN GREATEST(ceil(b.peak_busy_gpus / e.selfhost_wins_above), 1)
                     ELSE 0 END AS BIGINT) AS gpus_needed
    FROM by_hour b CROSS JOIN economics e
),
removable AS (
    SELECT n.*, c.instance_gpus, c.committed, p.gpu_hour_usd,
           CAST(GREATEST(c.instance_gpus * floor((n.billed_gpus - n.gpus_needed) / c.instance_gpus), 0) AS BIGINT) AS removable_gpus,
           CAST(GREATEST(ceil(p.peak_busy_gpus / n.target_utilization), 1) AS BIGINT) AS peak_gpus_needed
    FROM needed n
    JOIN capacity c ON c.pool = n.pool
    JOIN pool_price p ON p.pool = n.pool
)
SELECT pool, hour_of_day, days_observed, billed_gpus, peak_busy_gpus, target_utilization,
       gpus_needed, peak_gpus_needed, instance_gpus, removable_gpus, gpu_hour_usd, committed,
       CASE WHEN committed THEN CAST(0 AS DECIMAL(38, 12))
            ELSE CAST(CAST(removable_gpus AS DECIMAL(20, 0)) * gpu_hour_usd * (SELECT days_per_month FROM run_params) AS DECIMAL(38, 12))
       END AS monthly_saving_usd,
       CASE WHEN committed
            THEN CAST(CAST(removable_gpus AS DECIMAL(20, 0)) * gpu_hour_usd * (SELECT days_per_month FROM run_params) AS DECIMAL(38, 12))
            ELSE CAST(0 AS DECIMAL(38, 12))
       END AS saving_at_renewal_usd
FROM removable
ORDER BY pool, hour_of_day
