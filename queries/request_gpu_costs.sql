-- request_gpu_costs: each self-hosted request's part of the GPU cost, per pool-hour (a
-- request across an hour boundary has a row in each hour, dated by the hour).
--
-- Input: request_gpu_cost_split (pipeline/analyze/attribution.rs): each team × feature × model
-- share of a pool-hour (gpu_cost_attribution) split over its requests on the share's
-- basis (GPU seconds, else tokens, else one each), rounded toward zero at 12 decimals, so
-- a share's requests add up to it within a few 1e-12. Interactions sum these.
SELECT hour, pool, request_id, gpu_cost_usd, date
FROM request_gpu_cost_split
ORDER BY hour, pool, request_id
