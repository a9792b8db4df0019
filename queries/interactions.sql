-- interactions: one row per interaction (a conversation, session, agent run or trace).
--
-- Input: requests. The interaction's team, feature and user are those of its first
-- request; `model` is set when every request used the same model (else NULL, and `models`
-- says how many). `completed` is the last explicit value a request carried (a log's own
-- completed/abandoned field), or else whether the last request succeeded. `cost_usd` sums
-- the priced requests; `unpriced_requests` counts the others.
SELECT
    interaction_id,
    to_char(MIN(ts), '%Y-%m-%d') AS date,
    MIN(ts) AS start_ts,
    MAX(ts) AS end_ts,
    first_value(team ORDER BY ts, request_id) AS team,
    first_value(feature ORDER BY ts, request_id) AS feature,
    first_value(user_id ORDER BY ts, request_id) AS user_id,
    CASE WHEN COUNT(DISTINCT model) = 1 THEN MIN(model) END AS model,
    COUNT(DISTINCT model) AS models,
    COUNT(*) AS requests,
    SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS failed_requests,
    SUM(input_tokens) AS input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(input_tokens + output_tokens) AS total_tokens,
    SUM(cost_usd) AS cost_usd,
    SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_requests,
    COALESCE(
        last_value(completed ORDER BY CASE WHEN completed IS NULL THEN 0 ELSE 1 END, ts, request_id),
        last_value(status ORDER BY ts, request_id) = 'ok'
    ) AS completed
FROM requests
GROUP BY interaction_id
ORDER BY start_ts, interaction_id
