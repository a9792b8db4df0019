-- requests: the canonical request table, one row per distinct request_id.
--
-- Input: requests_staged (every row read and priced, duplicates included), run_params
-- (one row: inactivity_gap_seconds) and pool_deployments (which [[pools]] served which
-- deployment: `pool` is set for self-hosted requests, whose cost is in the GPU bill).
--
-- Duplicates: a request_id seen more than once in a run is kept once, the copy with the
-- most output tokens (streaming logs repeat a message id with growing usage), then the
-- first in file order.
--
-- Interactions: rows that carry an interaction id keep it. The others are sessionised per
-- user (or per team + feature when the log names no user): a gap longer than
-- inactivity_gap_seconds between two requests starts a new interaction, named
-- '<key>@<time of its first request>'.
WITH ranked AS (
    SELECT s.*,
           ROW_NUMBER() OVER (
               PARTITION BY request_id
               ORDER BY output_tokens DESC, source_file, source_line
           ) AS copy_rank
    FROM requests_staged s
),
kept AS (
    SELECT * FROM ranked WHERE copy_rank = 1
),
unassigned AS (
    SELECT k.*,
           CASE WHEN user_id IS NOT NULL THEN 'user:' || user_id
                ELSE 'team:' || COALESCE(team, '-') || '/' || COALESCE(feature, '-')
           END AS session_key
    FROM kept k
    WHERE interaction_id IS NULL
),
gaps AS (
    SELECT u.*,
           CASE WHEN LAG(ts) OVER (PARTITION BY session_key ORDER BY ts, request_id) IS NULL
                  OR date_part('epoch', ts)
                     - date_part('epoch', LAG(ts) OVER (PARTITION BY session_key ORDER BY ts, request_id))
                     > p.inactivity_gap_seconds
                THEN 1 ELSE 0
           END AS starts_session
    FROM unassigned u CROSS JOIN run_params p
),
numbered AS (
    SELECT g.*,
           SUM(starts_session) OVER (
               PARTITION BY session_key ORDER BY ts, request_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS session_number
    FROM gaps g
),
sessionised AS (
    SELECT n.*,
           session_key || '@' || to_char(
               MIN(ts) OVER (PARTITION BY session_key, session_number),
               '%Y-%m-%dT%H:%M:%SZ'
           ) AS derived_interaction_id
    FROM numbered n
),
all_rows AS (
    SELECT request_id, ts, duration_ms, provider, model, deployment, team, feature, user_id,
           interaction_id, status, input_tokens, cache_read_tokens, cache_write_tokens,
           cache_write_1h_tokens, output_tokens, reasoning_tokens, completed, batch,
           cost_usd, cache_saved_usd, cache_write_premium_usd, price_id,
           source, source_file, source_line
    FROM kept
    WHERE interaction_id IS NOT NULL
    UNION ALL
    SELECT request_id, ts, duration_ms, provider, model, deployment, team, feature, user_id,
           derived_interaction_id, status, input_tokens, cache_read_tokens, cache_write_tokens,
           cache_write_1h_tokens, output_tokens, reasoning_tokens, completed, batch,
           cost_usd, cache_saved_usd, cache_write_premium_usd, price_id,
           source, source_file, source_line
    FROM sessionised
)
SELECT a.*, pd.pool, to_char(a.ts, '%Y-%m-%d') AS date
FROM all_rows a
LEFT JOIN pool_deployments pd ON a.deployment = pd.deployment
ORDER BY a.ts, a.request_id
