-- next_quarter (review): what the next quarter will cost if nothing changes, and with the
-- plan (plan.sql's next-quarter savings, review_plan), API and GPU apart and together.
-- Run-rates are the latest run's lookback, scaled as the decision tables scale it
-- (month_factor): API spend (cost_attribution.cost_usd) per day with requests, GPU spend
-- (gpu_cost_usd: attributed + idle + unassigned = billed, committed charges included) per
-- billed hour. The quarter has its days × 24 hours of them. The plan's savings fall on the
-- line they act on: a pool's on GPU, a model × feature's on API (net of any self-hosted
-- GPUs it would rent, so self-hosting shows as a smaller API line, not as new GPU spend).
-- Committed capacity stays in the GPU line until its renewal (plan.sql counts an
-- at-renewal saving only after the commitment's last day). Steps that wait on a check
-- (plan.sql's 'after the check') are not in the plan's figure: waiting_on_checks_usd says
-- what they would save besides.
-- Input: cost_attribution, run_params, month_factor, review_params and review_plan (the
-- plan section's rows; in `sql`, a view of queries/review/plan.sql).
WITH params AS (
    SELECT CAST(to_unixtime(CAST(next_quarter_end AS TIMESTAMP)) / 86400 AS BIGINT)
           - CAST(to_unixtime(CAST(next_quarter_start AS TIMESTAMP)) / 86400 AS BIGINT) AS days
    FROM review_params
),
lookback AS (
    SELECT COALESCE(SUM(c.cost_usd), CAST(0 AS DECIMAL(38, 12))) AS api_usd,
           COALESCE(SUM(c.gpu_cost_usd), CAST(0 AS DECIMAL(38, 12))) AS gpu_usd
    FROM cost_attribution c
    CROSS JOIN run_params r
    WHERE c.date >= r.lookback_from AND c.date <= r.lookback_to
),
rates AS (
    SELECT CAST(l.api_usd * CAST(CAST(p.days AS DOUBLE) / CAST(m.request_days AS DOUBLE) AS DECIMAL(20, 10)) AS DECIMAL(38, 12)) AS api_usd,
           CAST(l.gpu_usd * CAST(CAST(24 * p.days AS DOUBLE) / CAST(m.billed_hours AS DOUBLE) AS DECIMAL(20, 10)) AS DECIMAL(38, 12)) AS gpu_usd,
           m.request_days, m.billed_hours, p.days
    FROM lookback l CROSS JOIN params p CROSS JOIN month_factor m
),
savings AS (
    SELECT COALESCE(SUM(CASE WHEN acts_on LIKE 'pool %' AND when_to_act <> 'after the check' THEN next_quarter_saving_usd END), CAST(0 AS DECIMAL(38, 12))) AS gpu_usd,
           COALESCE(SUM(CASE WHEN acts_on NOT LIKE 'pool %' AND when_to_act <> 'after the check' THEN next_quarter_saving_usd END), CAST(0 AS DECIMAL(38, 12))) AS api_usd,
           COALESCE(SUM(CASE WHEN acts_on LIKE 'pool %' AND when_to_act = 'after the check' THEN next_quarter_saving_usd END), CAST(0 AS DECIMAL(38, 12))) AS gpu_waiting_usd,
           COALESCE(SUM(CASE WHEN acts_on NOT LIKE 'pool %' AND when_to_act = 'after the check' THEN next_quarter_saving_usd END), CAST(0 AS DECIMAL(38, 12))) AS api_waiting_usd
    FROM review_plan
    WHERE when_to_act IN ('now', 'after the check', 'at renewal')
)
SELECT * FROM (
SELECT 'API' AS spend, r.api_usd AS if_nothing_changes_usd, s.api_usd AS plan_saves_usd,
       r.api_usd - s.api_usd AS with_the_plan_usd, s.api_waiting_usd AS waiting_on_checks_usd,
       'the lookback''s API spend over its ' || CAST(r.request_days AS VARCHAR) || ' day(s) with requests × '
           || CAST(r.days AS VARCHAR) || ' days' AS basis
FROM rates r CROSS JOIN savings s
UNION ALL
SELECT 'GPU', r.gpu_usd, s.gpu_usd, r.gpu_usd - s.gpu_usd, s.gpu_waiting_usd,
       'the lookback''s GPU bill over its ' || CAST(r.billed_hours AS VARCHAR) || ' billed hour(s) × '
           || CAST(24 * r.days AS VARCHAR) || ' hours, commitments included'
FROM rates r CROSS JOIN savings s
UNION ALL
SELECT 'total', r.api_usd + r.gpu_usd, s.api_usd + s.gpu_usd, r.api_usd + r.gpu_usd - s.api_usd - s.gpu_usd,
       s.api_waiting_usd + s.gpu_waiting_usd,
       'API + GPU'
FROM rates r CROSS JOIN savings s
) lines
ORDER BY CASE spend WHEN 'API' THEN 0 WHEN 'GPU' THEN 1 ELSE 2 END
