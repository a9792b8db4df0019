-- requests: the canonical request table, one row per distinct request_id.
--
-- Input: requests_staged (every row of the run's window read and priced, duplicates
-- included), requests_context (published requests of earlier nights that a session still
-- open at the window's start holds; see pipeline/history.rs), run_params (one row:
-- inactivity_gap_seconds) and pool_deployments (which [[pools]] served which deployment:
-- `pool` is set for self-hosted requests, whose cost is in the GPU bill).
--
-- Duplicates: a request_id seen more than once in a run is kept once, the copy with the
-- most output tokens (streaming logs repeat a message id with growing usage), then the
-- first in file order. Only the duplicated ids are ranked, so the whole table is never
-- sorted.
--
-- Interactions: every request has a session key: its log's interaction id
-- ('interaction:<id>'), else its user ('user:<id>'), else its team and feature. A gap longer
-- than inactivity_gap_seconds between two requests of one key starts a new interaction,
-- whatever the key (so an interaction always closes inactivity_gap_seconds after its last
-- request, and a nightly run can tell which are still open). interaction_start is the
-- time of the interaction's first request, earlier nights included; interaction_id is the
-- log's own id, or '<key>@<interaction_start>' for derived ones.
WITH duplicated AS (
    SELECT request_id
    FROM requests_staged
    GROUP BY request_id
    HAVING COUNT(*) > 1
),
single_copies AS (
    SELECT s.*
    FROM requests_staged s
    LEFT JOIN duplicated d ON s.request_id = d.request_id
    WHERE d.request_id IS NULL
),
best_copies AS (
    SELECT * EXCLUDE (copy_rank)
    FROM (
        SELECT s.*,
               ROW_NUMBER() OVER (
                   PARTITION BY s.request_id
                   ORDER BY s.output_tokens DESC, s.source_file, s.source_line
               ) AS copy_rank
        FROM requests_staged s
        JOIN duplicated d ON s.request_id = d.request_id
    ) ranked
    WHERE copy_rank = 1
),
kept AS (
    SELECT * FROM single_copies
    UNION ALL
    SELECT * FROM best_copies
),
keyed AS (
    SELECT request_id, ts,
           CASE WHEN interaction_id IS NOT NULL THEN 'interaction:' || interaction_id
                WHEN user_id IS NOT NULL THEN 'user:' || user_id
                ELSE 'team:' || COALESCE(team, '-') || '/' || COALESCE(feature, '-')
           END AS session_key,
           false AS from_history
    FROM kept
    UNION ALL
    SELECT request_id, ts, session_key, true AS from_history
    FROM requests_context
    WHERE in_open_session
),
gaps AS (
    SELECT k.*,
           CASE WHEN LAG(ts) OVER (PARTITION BY session_key ORDER BY ts, request_id) IS NULL
                  OR CAST(ts AS BIGINT)
                     - CAST(LAG(ts) OVER (PARTITION BY session_key ORDER BY ts, request_id) AS BIGINT)
                     > p.inactivity_gap_seconds * 1000000
                THEN 1 ELSE 0
           END AS starts_session
    FROM keyed k CROSS JOIN run_params p
),
sessionised AS (
    -- The session's start is the latest start at or before the row: a running maximum in
    -- the same window as the gaps (one sort, not two).
    SELECT request_id, session_key, from_history,
           MAX(CASE WHEN starts_session = 1 THEN ts END) OVER (
               PARTITION BY session_key ORDER BY ts, request_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS interaction_start
    FROM gaps
)
SELECT
    k.request_id, k.ts, k.duration_ms, k.provider, k.model, k.deployment, k.team, k.feature,
    k.user_id,
    COALESCE(k.interaction_id,
             s.session_key || '@' || to_char(s.interaction_start, '%Y-%m-%dT%H:%M:%SZ')) AS interaction_id,
    s.session_key, s.interaction_start,
    k.status, k.input_tokens, k.cache_read_tokens, k.cache_write_tokens,
    k.cache_write_1h_tokens, k.output_tokens, k.reasoning_tokens, k.completed, k.batch,
    k.cost_usd, k.cache_saved_usd, k.cache_write_premium_usd, k.output_cost_usd, k.price_id,
    k.source_cost_usd,
    k.source, k.source_file, k.source_line, k.prefix_blocks, k.prefix_block_tokens,
    pd.pool,
    to_char(k.ts, '%Y-%m-%d') AS date
FROM kept k
JOIN sessionised s ON k.request_id = s.request_id AND NOT s.from_history
LEFT JOIN pool_deployments pd ON k.deployment = pd.deployment
