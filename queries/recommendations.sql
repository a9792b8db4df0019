-- recommendations: every rule's findings (recommendation_findings, the union of
-- queries/recommendations/*.sql) with the monthly spend each acts on (workload_spend) and
-- when its saving can be had. Committed capacity (reservations, savings plans: a pool whose
-- cost is at least half committed, pool_rightsizing.committed) is paid until its term
-- ends, whether used or not: a saving that gives back the pool's GPUs or moves its work
-- off them (pool_right_size, pool_costs_more_than_api) is then realisable only at renewal,
-- from the day after the commitment's last day: [[pools]] commitment_ends, else the latest
-- end of the pool's committed bill rows (billing_staged.commitment_ends, from CUR's
-- savings_plan_end_time / reservation_end_time), NULL when neither says:
-- est_monthly_savings_usd is 0 (nothing now) and saving_at_renewal_usd the figure.
-- confidence: low when the pool's utilisation sources disagree (rule
-- utilisation_sources_disagree), else by the days of requests behind the figure (under 7
-- low, under 28 medium), and for a pool how its utilisation was measured (the method of
-- most of its hours).
-- Sorted by what can be had now, then by what comes at renewal.
WITH billed_terms AS (
    SELECT pool, MAX(commitment_ends) AS commitment_ends
    FROM billing_staged
    WHERE pool IS NOT NULL AND pricing_category = 'committed' AND commitment_ends IS NOT NULL
    GROUP BY pool
),
commitments AS (
    SELECT 'pool ' || r.pool AS acts_on, COALESCE(p.commitment_ends, b.commitment_ends) AS commitment_ends
    FROM (SELECT pool, bool_or(committed) AS committed FROM pool_rightsizing GROUP BY pool) r
    LEFT JOIN pools p ON p.pool = r.pool
    LEFT JOIN billed_terms b ON b.pool = r.pool
    WHERE r.committed
),
measured_by AS (
    -- How each pool's utilisation was measured over most of its hours (pool_hours.method).
    SELECT acts_on,
           CASE method WHEN 'dcgm' THEN 'DCGM'
                       WHEN 'requests' THEN 'request timings'
                       WHEN 'throughput' THEN 'token throughput at the assumed tokens/s'
                       ELSE 'nothing (no DCGM, request timings or capacity figure)' END AS method
    FROM (
        SELECT acts_on, method, ROW_NUMBER() OVER (PARTITION BY acts_on ORDER BY hours DESC, method) AS rank_of_method
        FROM (SELECT 'pool ' || pool AS acts_on, method, COUNT(*) AS hours FROM hourly_utilization GROUP BY pool, method) counted
    ) ranked
    WHERE rank_of_method = 1
),
doubtful AS (
    -- Pools whose utilisation sources disagree (rule utilisation_sources_disagree).
    SELECT DISTINCT scope AS acts_on FROM recommendation_findings WHERE rule = 'utilisation_sources_disagree'
),
judged AS (
    SELECT f.*, w.monthly_spend_usd,
           CASE WHEN d.acts_on IS NOT NULL THEN 'low: the pool''s utilisation sources disagree'
                WHEN m.request_days < 7 THEN 'low: ' || CAST(m.request_days AS VARCHAR) || ' day(s) of requests in the lookback'
                WHEN m.request_days < 28 THEN 'medium: ' || CAST(m.request_days AS VARCHAR) || ' days of requests in the lookback'
                ELSE 'high: ' || CAST(m.request_days AS VARCHAR) || ' days of requests in the lookback'
           END || COALESCE('; utilisation measured by ' || u.method, '') AS confidence,
           c.acts_on IS NOT NULL AND f.rule IN ('pool_right_size', 'pool_costs_more_than_api') AS at_renewal,
           c.commitment_ends
    FROM recommendation_findings f
    LEFT JOIN workload_spend w ON w.acts_on = f.acts_on
    LEFT JOIN commitments c ON c.acts_on = f.acts_on
    LEFT JOIN doubtful d ON d.acts_on = f.acts_on
    LEFT JOIN measured_by u ON u.acts_on = f.acts_on
    CROSS JOIN month_factor m
),
timed AS (
SELECT rule, severity, scope,
       CASE WHEN at_renewal
            THEN finding || ' Its capacity is committed: nothing can be given back before '
                 || COALESCE('the commitment ends on ' || commitment_ends, 'the commitment ends (its last day: [[pools]] commitment_ends)')
                 || ', so this saves $' || CAST(CAST(est_monthly_savings_usd AS DECIMAL(20, 2)) AS VARCHAR)
                 || ' a month from renewal, nothing now.'
            ELSE finding
       END AS finding,
       evidence,
       CASE WHEN at_renewal THEN CAST(0 AS DECIMAL(38, 12)) ELSE est_monthly_savings_usd END AS est_monthly_savings_usd,
       CASE WHEN at_renewal THEN 'At renewal: ' || action ELSE action END AS action,
       acts_on, combines, monthly_spend_usd,
       CASE WHEN at_renewal THEN 'at renewal' ELSE 'now' END AS realisable,
       CASE WHEN at_renewal THEN commitment_ends END AS commitment_ends,
       CASE WHEN at_renewal THEN est_monthly_savings_usd ELSE CAST(0 AS DECIMAL(38, 12)) END AS saving_at_renewal_usd,
       confidence
FROM judged
)
SELECT * FROM timed
ORDER BY est_monthly_savings_usd DESC, saving_at_renewal_usd DESC, rule, scope
