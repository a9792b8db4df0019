-- interactions: one row per interaction (a conversation, session, agent run or trace),
-- dated by the day it closes.
--
-- Input: requests (of one session bucket when a run splits its requests: see
-- queries/requests.sql and session_pass), and requests_context (the requests of earlier
-- nights that belong to an interaction still open when this run's window starts;
-- pipeline/analyze/history.rs), run_params,
-- request_gpu_costs and context_gpu_costs (the GPU cost of its self-hosted requests,
-- tonight's and earlier nights').
-- An interaction closes inactivity_gap_seconds after its last activity ends (the latest
-- request start + duration; closes_at): no request can join it then (see requests.sql)
-- and its GPU time is over. It is reported in the partition of the day it closes, with
-- every request it holds, earlier nights' included; interactions still open at the end of
-- the run's window (closes_at at or after run_params.horizon) are left for the run that
-- sees them close. So a period run night by night gives exactly the rows of one run over
-- it.
--
-- cost_usd is the API cost (per token); gpu_cost_usd the self-hosted requests' share of
-- the GPU bill (request_gpu_costs); total_cost_usd both.
--
-- The interaction's team, feature and user are those of its first request; `model` is set
-- when every request used the same model (else NULL, and `models` says how many).
-- `completed` is the last explicit value a request carried (a log's own
-- completed/abandoned field), or else whether the last request succeeded. `cost_usd` sums
-- the priced requests; `unpriced_requests` counts the API requests without a price, and
-- `self_hosted_requests` those served by a pool (their cost is in gpu_cost_attribution).
--
-- "First" and "last" are in (ts, request_id) order, taken with the aggregates
-- first_by_time / last_by_time (pipeline/analyze/functions/first_last.rs): no sort of every request.
WITH held AS (
    SELECT request_id, interaction_id, interaction_start, ts, duration_ms, team, feature, user_id,
           model, status, completed, input_tokens, cache_read_tokens, output_tokens, cost_usd, pool
    FROM requests
    UNION ALL
    SELECT request_id, interaction_id, interaction_start, ts, duration_ms, team, feature, user_id,
           model, status, completed, input_tokens, cache_read_tokens, output_tokens, cost_usd, pool
    FROM requests_context
    WHERE in_open_session
      AND session_bucket(session_key, (SELECT session_buckets FROM session_pass))
          = (SELECT session_bucket FROM session_pass)
),
gpu AS (
    SELECT request_id, SUM(gpu_cost_usd) AS gpu_cost_usd
    FROM (
        SELECT request_id, gpu_cost_usd FROM request_gpu_costs
        UNION ALL
        SELECT request_id, gpu_cost_usd FROM context_gpu_costs
    ) parts
    GROUP BY request_id
),
per_request AS (
    SELECT h.*, g.gpu_cost_usd,
           CAST(h.ts AS BIGINT) + COALESCE(h.duration_ms, 0) * 1000 AS end_micros
    FROM gpu g
    RIGHT JOIN held h ON g.request_id = h.request_id
),
grouped AS (
    SELECT
        interaction_id,
        interaction_start AS start_ts,
        MAX(ts) AS end_ts,
        first_by_time(team, ts, request_id) AS team,
        first_by_time(feature, ts, request_id) AS feature,
        first_by_time(user_id, ts, request_id) AS user_id,
        -- The distinct models used (pipeline/analyze/functions/distinct_values.rs), NULL left out.
        distinct_values(model) AS models_used,
        COUNT(*) AS requests,
        SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS failed_requests,
        SUM(input_tokens) AS input_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(input_tokens + output_tokens) AS total_tokens,
        SUM(cost_usd) AS cost_usd,
        SUM(gpu_cost_usd) AS gpu_cost_usd,
        MAX(end_micros) AS last_activity_micros,
        SUM(CASE WHEN cost_usd IS NULL AND pool IS NULL THEN 1 ELSE 0 END) AS unpriced_requests,
        SUM(CASE WHEN pool IS NOT NULL THEN 1 ELSE 0 END) AS self_hosted_requests,
        -- The last explicit value, else whether the last request succeeded.
        COALESCE(last_by_time(completed, ts, request_id) FILTER (WHERE completed IS NOT NULL),
                 last_by_time(CASE WHEN status = 'ok' THEN true ELSE false END, ts, request_id)) AS completed
    FROM per_request
    GROUP BY interaction_id, interaction_start
),
closing AS (
    SELECT g.*,
           to_timestamp_micros(g.last_activity_micros
                               + (SELECT inactivity_gap_seconds FROM run_params) * 1000000) AS closes_at_local,
           g.last_activity_micros
               + (SELECT inactivity_gap_seconds FROM run_params) * 1000000 AS closes_at_micros
    FROM grouped g
)
SELECT
    interaction_id,
    utc_date(closes_at_local) AS date,
    start_ts, end_ts,
    arrow_cast(closes_at_local, 'Timestamp(Microsecond, Some("UTC"))') AS closes_at,
    team, feature, user_id,
    CASE WHEN cardinality(models_used) = 1 THEN models_used[1] END AS model,
    CAST(cardinality(models_used) AS BIGINT) AS models,
    requests, failed_requests,
    input_tokens, cache_read_tokens, output_tokens, total_tokens, cost_usd, gpu_cost_usd,
    COALESCE(cost_usd, CAST(0 AS DECIMAL(38, 12))) + COALESCE(gpu_cost_usd, CAST(0 AS DECIMAL(38, 12))) AS total_cost_usd,
    unpriced_requests, self_hosted_requests, completed
FROM closing
WHERE closes_at_micros < (SELECT horizon_micros FROM run_params)
ORDER BY start_ts, interaction_id
