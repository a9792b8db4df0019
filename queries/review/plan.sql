-- plan (review): what to do about the latest run's recommendations, in order, what each
-- saves and from when, and how sure it is. One row per spend a saving acts on, each dollar
-- counted once as in savings_by_spend (the best alternative, or the stacking steps
-- together), in three groups:
--   check first  findings that put other figures in doubt (utilisation sources that
--                disagree, models with no price, GPU spend no pool claims, bills that
--                differ from the logs): no saving; settle them before acting on the rest;
--   now          savings to be had as soon as the step is done: assumed done by the next
--                quarter's first day (saves_from). Next quarter it saves the monthly figure
--                × the quarter's days / review_params.days_per_month, less the one-off
--                migration (selfhost_breakeven.migration_cost_usd) where the step moves a
--                workload onto self-hosted GPUs (consider_selfhosting, use_idle_capacity);
--   after the check  a 'now' step on a pool whose utilisation sources disagree (its
--                confidence says so): its figure rests on the utilisation in doubt, so it
--                waits on that pool's check-first row; saved as 'now' once the sources agree;
--   at renewal   savings on committed capacity (recommendations.realisable = 'at renewal'),
--                the best of the alternatives on each pool, from the day after the
--                commitment's last day; next quarter only for its days after that day (none
--                when the day is unknown: set [[pools]] commitment_ends).
-- Input: recommendations, savings_by_spend, selfhost_breakeven (the latest run's) and
-- review_params (next_quarter_start, next_quarter_end).
WITH params AS (
    SELECT CAST(to_unixtime(CAST(next_quarter_start AS TIMESTAMP)) / 86400 AS BIGINT) AS q_start,
           CAST(to_unixtime(CAST(next_quarter_end AS TIMESTAMP)) / 86400 AS BIGINT) AS q_end,
           next_quarter_start,
           CAST(days_per_month AS DOUBLE) AS days_per_month
    FROM review_params
),
now_rules AS (
    SELECT acts_on, rule, action, combines, confidence, est_monthly_savings_usd AS saving,
           ROW_NUMBER() OVER (PARTITION BY acts_on, combines ORDER BY est_monthly_savings_usd DESC, rule) AS rank_in_kind
    FROM recommendations
    WHERE realisable = 'now' AND est_monthly_savings_usd > 0 AND acts_on IS NOT NULL
      AND combines IN ('stacks', 'alternative')
),
chosen AS (
    -- savings_by_spend's choice on each spend: its best alternative, or every stacking step.
    SELECT s.acts_on, s.combined_monthly_savings_usd AS monthly_saving_usd,
           n.rule, n.action, n.confidence, n.saving
    FROM savings_by_spend s
    JOIN now_rules n ON n.acts_on = s.acts_on
     AND ((s.how = 'best alternative' AND n.combines = 'alternative' AND n.rank_in_kind = 1)
          OR (s.how = 'stacked' AND n.combines = 'stacks'))
),
migrations AS (
    SELECT 'model ' || model || ' / feature ' || COALESCE(feature, '-') AS acts_on,
           MAX(migration_cost_usd) AS migration_cost_usd
    FROM selfhost_breakeven
    WHERE kind = 'api_workload'
    GROUP BY 1
),
now_steps AS (
    SELECT c.acts_on,
           MAX(c.monthly_saving_usd) AS monthly_saving_usd,
           string_agg(c.rule, ' + ' ORDER BY c.saving DESC, c.rule) AS rules,
           string_agg(c.action, ' ' ORDER BY c.saving DESC, c.rule) AS action,
           MAX(c.confidence) AS confidence,
           COALESCE(MAX(CASE WHEN c.rule IN ('consider_selfhosting', 'use_idle_capacity') THEN m.migration_cost_usd END),
                    CAST(0 AS DECIMAL(38, 12))) AS one_off_cost_usd
    FROM chosen c
    LEFT JOIN migrations m ON m.acts_on = c.acts_on
    GROUP BY c.acts_on
),
renewal_rules AS (
    SELECT acts_on, rule, action, confidence, commitment_ends, saving_at_renewal_usd,
           ROW_NUMBER() OVER (PARTITION BY acts_on ORDER BY saving_at_renewal_usd DESC, rule) AS rank_on_pool
    FROM recommendations
    WHERE realisable = 'at renewal' AND saving_at_renewal_usd > 0
),
renewal_steps AS (
    SELECT r.*,
           CAST(to_unixtime(CAST(r.commitment_ends AS TIMESTAMP)) / 86400 AS BIGINT) + 1 AS from_day
    FROM renewal_rules r
    WHERE rank_on_pool = 1
),
steps AS (
    SELECT 0 AS grp, 'check first' AS when_to_act, scope AS acts_on, rule AS rules,
           CAST(NULL AS DECIMAL(38, 12)) AS monthly_saving_usd, CAST(NULL AS VARCHAR) AS saves_from,
           CAST(NULL AS DECIMAL(38, 12)) AS one_off_cost_usd, CAST(NULL AS DECIMAL(38, 12)) AS next_quarter_saving_usd,
           confidence, action, CAST(0 AS DECIMAL(38, 12)) AS sort_saving
    FROM recommendations
    WHERE rule IN ('utilisation_sources_disagree', 'unpriced_models', 'unassigned_gpu_spend', 'billing_variance_unexplained')
    UNION ALL
    SELECT CASE WHEN n.confidence LIKE 'low: the pool''s utilisation sources disagree%' THEN 2 ELSE 1 END,
           CASE WHEN n.confidence LIKE 'low: the pool''s utilisation sources disagree%' THEN 'after the check' ELSE 'now' END,
           n.acts_on, n.rules, n.monthly_saving_usd, p.next_quarter_start, n.one_off_cost_usd,
           CAST(n.monthly_saving_usd * CAST(CAST(p.q_end - p.q_start AS DOUBLE) / p.days_per_month AS DECIMAL(20, 10))
                - n.one_off_cost_usd AS DECIMAL(38, 12)),
           n.confidence, n.action, n.monthly_saving_usd AS sort_saving
    FROM now_steps n CROSS JOIN params p
    UNION ALL
    SELECT 3, 'at renewal', r.acts_on, r.rule, r.saving_at_renewal_usd,
           CAST(CAST(to_timestamp_seconds(r.from_day * 86400) AS DATE) AS VARCHAR),
           CAST(0 AS DECIMAL(38, 12)),
           CAST(CASE WHEN r.from_day IS NULL THEN CAST(0 AS DECIMAL(38, 12))
                     ELSE r.saving_at_renewal_usd
                          * CAST(CAST(GREATEST(p.q_end - GREATEST(p.q_start, r.from_day), 0) AS DOUBLE) / p.days_per_month AS DECIMAL(20, 10))
                END AS DECIMAL(38, 12)),
           r.confidence,
           CASE WHEN r.commitment_ends IS NULL
                THEN r.action || ' (The commitment''s last day is unknown: set [[pools]] commitment_ends to time this.)'
                ELSE r.action END,
           r.saving_at_renewal_usd AS sort_saving
    FROM renewal_steps r CROSS JOIN params p
)
SELECT
    ROW_NUMBER() OVER (ORDER BY grp, saves_from NULLS LAST, sort_saving DESC, acts_on, rules) AS step,
    when_to_act,
    acts_on,
    rules,
    monthly_saving_usd,
    saves_from,
    one_off_cost_usd,
    next_quarter_saving_usd,
    confidence,
    action
FROM steps
ORDER BY step
