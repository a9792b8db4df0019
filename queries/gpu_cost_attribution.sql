-- gpu_cost_attribution: each pool-hour's GPU cost split over the teams, features and models
-- it served, plus an explicit idle row (team '__idle__').
--
-- Input: gpu_cost_split, made by the pipeline (pipeline/analyze/attribution.rs) from pool_hours and
-- gpu_request_weights: the busy part of the cost (cost × utilization; all of it when
-- utilization cannot be measured) is split in proportion to GPU time (request durations),
-- falling back to tokens, each share rounded toward zero at 12 decimals; idle is the
-- billed cost minus the shares. So for every pool-hour, attributed + idle = billed exactly.
SELECT *
FROM gpu_cost_split
ORDER BY hour, pool, team, feature, model, deployment
