-- requests: the canonical request table, one row per distinct request_id.
--
-- Input: requests_staged (the rows of the run's window read and priced, duplicates
-- included, of one session bucket: see session_pass), requests_duplicate_copies (every
-- staged copy of the ids staged more than once, all buckets: its id, output tokens and
-- where it was read), requests_context (published requests of earlier nights that a session still
-- open at the window's start holds; see pipeline/analyze/history.rs), run_params (one row:
-- inactivity_gap_seconds), pool_deployments (which [[pools]] served which deployment:
-- `pool` is set for self-hosted requests, whose cost is in the GPU bill) and session_pass
-- (one row: the session bucket this pass reads, of how many; 0 of 1 reads everything).
--
-- Session buckets: a large run splits its requests by session key into buckets and runs
-- this query once per bucket (pipeline/common/session_buckets.rs), so its aggregations
-- and joins hold one bucket's rows; every interaction lies in one bucket. session_bucket(key, buckets) is
-- the bucket ingest filed a key's requests under.
--
-- Duplicates: a request_id seen more than once in a run is kept once: the copy on the
-- earliest UTC day (a night cannot rewrite a day already published, so one run over
-- several days keeps what night-by-night runs keep), then the one with the most output
-- tokens (streaming logs repeat a message id with growing usage), then the first in file
-- order, whichever bucket each copy is in; the pass of the kept copy's bucket outputs it.
-- A copy whose id is already published on the day before the window or the day after it
-- (requests_neighbour_ids: two copies either side of midnight, read by two nightly runs,
-- or a night rerun after the next one) is a duplicate of that published copy. Only the duplicated ids are ranked, so the whole table is never
-- sorted by id; every join has the small side (the duplicated ids' best copies, the
-- pools) as its build side, so memory does not grow with the log.
--
-- Interactions: every request has a session key: its log's interaction id
-- ('interaction:<id>'), else its user ('user:<id>'), else its team and feature. A gap longer
-- than inactivity_gap_seconds between two requests of one key starts a new interaction,
-- whatever the key (so an interaction always closes inactivity_gap_seconds after its last
-- request, and a nightly run can tell which are still open). interaction_start is the
-- time of the interaction's first request, earlier nights included; interaction_id is the
-- log's own id, or '<key>@<interaction_start>' for derived ones. Each key's interactions are
-- found as time spans by an aggregate over the key's times, and each request then finds
-- its span by an equi-join: no sort of the requests (a window over one global order
-- sorted every column of every request, on one core).
WITH
-- The best copy of each duplicated id, of all its copies in every bucket, as where it was
-- read (source, file, line): the copy no other copy of its id beats (
-- on an earlier UTC day, or on the same day with more output tokens, or as many from an
-- earlier file, or from the same file on an earlier line, or, for one
-- file read by two sources, the same line of the source named first), so exactly one copy
-- per id is left. An anti-join rather than ROW_NUMBER() over the copies: Apache Ballista
-- 55 runs that window twice when its result is united with other rows (`run --cluster`
-- then kept each best copy twice).
best_copies AS (
    SELECT c.request_id, c.source, c.source_file, c.source_line
    FROM requests_duplicate_copies c
    WHERE NOT EXISTS (
        SELECT 1 FROM requests_duplicate_copies o
        WHERE o.request_id = c.request_id
          AND (date_trunc('day', o.ts) < date_trunc('day', c.ts)
               OR (date_trunc('day', o.ts) = date_trunc('day', c.ts)
                   AND (o.output_tokens > c.output_tokens
                        OR (o.output_tokens = c.output_tokens
                            AND (o.source_file < c.source_file
                                 OR (o.source_file = c.source_file
                                     AND (o.source_line < c.source_line
                                          OR (o.source_line = c.source_line AND o.source < c.source))))))))
    )
),
-- The copy to keep of each id that has one elsewhere: its best copy here, or, for an id
-- already published on a neighbouring day, that published copy (which no staged row is:
-- every staged copy of the id is then a duplicate).
kept_copies AS (
    SELECT request_id AS keep_id, '' AS keep_source, '' AS keep_file, CAST(-1 AS BIGINT) AS keep_line
    FROM requests_neighbour_ids
    UNION ALL
    SELECT request_id, source, source_file, source_line
    FROM best_copies
    WHERE request_id NOT IN (SELECT request_id FROM requests_neighbour_ids)
),
-- This bucket's rows, but of an id with copies elsewhere only the copy to keep (in
-- whichever bucket it lies, that bucket's pass keeps it). One join with the copies to keep
-- (one row per duplicated or published id) as its build side: a row whose id has none is
-- not duplicated. (The copies' columns are named apart from the rows': with the same
-- names, DataFusion 55 turned `s.source = b.source`, once the window's date filter was
-- pushed into this join, into `source = source` and kept every copy.)
kept AS (
    SELECT s.*
    FROM kept_copies b
    RIGHT JOIN requests_staged s ON s.request_id = b.keep_id
    WHERE b.keep_id IS NULL
       OR (s.source = b.keep_source AND s.source_file = b.keep_file
           AND s.source_line = b.keep_line)
),
keyed AS (
    SELECT k.*,
           CASE WHEN interaction_id IS NOT NULL THEN 'interaction:' || interaction_id
                WHEN user_id IS NOT NULL THEN 'user:' || user_id
                ELSE 'team:' || COALESCE(team, '-') || '/' || COALESCE(feature, '-')
           END AS session_key,
           false AS from_history
    FROM kept k
    -- Earlier nights' requests of this bucket's sessions still open: only for the gaps
    -- (their other columns are NULL here and they are not output).
    UNION ALL BY NAME
    SELECT request_id, ts, session_key, true AS from_history
    FROM requests_context
    WHERE in_open_session
      AND session_bucket(session_key, (SELECT session_buckets FROM session_pass))
          = (SELECT session_bucket FROM session_pass)
),
-- Each session key's interactions as time spans {start, end} (interaction_spans,
-- pipeline/analyze/functions/interaction_spans.rs): in time order, a request starts an interaction
-- when it is its key's first or comes more than the gap after the one before. Earlier
-- nights' requests count. An aggregate per key, so the requests are never sorted.
spans AS (
    SELECT session_key, unnest(spans) AS span
    FROM (
        SELECT session_key, interaction_spans(ts, gap_micros) AS spans
        FROM (
            SELECT session_key, ts,
                   (SELECT inactivity_gap_seconds FROM run_params) * 1000000 AS gap_micros
            FROM keyed
        ) timeline
        GROUP BY session_key
    ) per_key
),
-- Time cut into slots as wide as the gap (at least a microsecond; one slot for a NULL
-- gap): each span is listed once per slot it overlaps, so a request looks its span up by
-- key and slot. A key's spans are more than the gap apart, so a slot overlaps at most one
-- of them: the join never compares a request with a key's other interactions.
slot_width AS (
    SELECT GREATEST(COALESCE(inactivity_gap_seconds * 1000000, 9223372036854775807), 1)
               AS slot_micros
    FROM run_params
),
span_slots AS (
    SELECT session_key, start_ts, end_ts,
           unnest(generate_series(CAST(start_ts AS BIGINT) / (SELECT slot_micros FROM slot_width),
                                  CAST(end_ts AS BIGINT) / (SELECT slot_micros FROM slot_width))) AS slot
    FROM (SELECT session_key, span['start'] AS start_ts, span['end'] AS end_ts FROM spans) s
),
tonight AS (
    SELECT *, CAST(ts AS BIGINT) / (SELECT slot_micros FROM slot_width) AS slot
    FROM keyed
    WHERE NOT from_history
),
-- interaction_start: the start of the span a request lies in. The spans (one row per
-- interaction and slot) are the build side.
sessionised AS (
    SELECT k.*, s.start_ts AS interaction_start
    FROM span_slots s
    RIGHT JOIN tonight k
        ON s.session_key = k.session_key AND s.slot = k.slot
       AND k.ts BETWEEN s.start_ts AND s.end_ts
)
SELECT
    k.request_id, k.ts, k.duration_ms, k.provider, k.model, k.deployment, k.team, k.feature,
    k.user_id,
    COALESCE(k.interaction_id,
             k.session_key || '@' || to_char(k.interaction_start, '%Y-%m-%dT%H:%M:%SZ')) AS interaction_id,
    k.session_key, k.interaction_start,
    k.status, k.input_tokens, k.cache_read_tokens, k.cache_write_tokens,
    k.cache_write_1h_tokens, k.output_tokens, k.reasoning_tokens, k.completed, k.batch,
    k.cost_usd, k.cache_saved_usd, k.cache_write_premium_usd, k.output_cost_usd, k.price_id, k.source_cost_usd,
    k.source, k.source_file, k.source_line, k.prefix_blocks, k.prefix_block_tokens,
    pd.pool,
    -- The request's UTC day, as CAST(CAST(ts AS DATE) AS VARCHAR) gives it (utc_date,
    -- pipeline/analyze/functions/udf.rs, formats each day once).
    utc_date(k.ts) AS date
-- The few pools on the build side.
FROM pool_deployments pd RIGHT JOIN sessionised k ON k.deployment = pd.deployment
