-- The run's spend totals (report.html's cards): API, self-hosted GPU (idle and unassigned
-- included) and both, from cost_attribution.
SELECT SUM(cost_usd) AS api, SUM(gpu_cost_usd) AS gpu, SUM(total_cost_usd) AS total
FROM cost_attribution
