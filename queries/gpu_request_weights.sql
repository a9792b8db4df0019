-- gpu_request_weights (internal): what each team, feature and model used of a pool in an
-- hour, for splitting the pool-hour's cost: requests in flight during the hour, their
-- tokens, and gpu_seconds, their share of the replicas' busy time, each instant of a
-- replica's busy time split equally among the requests in flight then (a request across
-- an hour boundary counts in both hours).
--
-- Input: gpu_time_split, made by the pipeline (pipeline/analyze/attribution.rs, `sweep`) from
-- requests and the requests of earlier nights still in flight when the window starts.
SELECT *
FROM gpu_time_split
ORDER BY pool, hour_index, team, feature, provider, model, deployment
