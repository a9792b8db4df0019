-- interaction_costs: what a completed interaction costs, by date × team × feature × model.
--
-- Input: interactions (dated by the day they close). `model` is the interaction's model,
-- or '(several)' when it used more than one. Cost is API and GPU together (total_cost_usd =
-- cost_usd per token + gpu_cost_usd, the self-hosted requests' share of the GPU bill), so
-- API and self-hosted work compare. cost_per_completed_interaction divides ALL the
-- group's cost by its completed interactions, so abandoned work is priced in;
-- abandoned_cost_usd shows how much of it that was; median_cost_per_interaction is the
-- middle interaction's total cost (a few huge batch interactions do not move it). Percentiles are percentile_cont
-- (linear interpolation between the two nearest interactions; DataFusion rounds the
-- interpolation weight down to 1e-6).
SELECT
    date,
    team,
    feature,
    COALESCE(model, '(several)') AS model,
    COUNT(*) AS interactions,
    SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS completed_interactions,
    CAST(SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE) AS completion_rate,
    AVG(CAST(total_tokens AS DOUBLE)) AS mean_tokens_per_interaction,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY total_tokens) AS p50_tokens_per_interaction,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY total_tokens) AS p90_tokens_per_interaction,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY total_tokens) AS p99_tokens_per_interaction,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(cost_usd) AS cost_usd,
    SUM(gpu_cost_usd) AS gpu_cost_usd,
    SUM(total_cost_usd) AS total_cost_usd,
    CAST(median(total_cost_usd) AS DECIMAL(38, 12)) AS median_cost_per_interaction,
    CASE WHEN SUM(CASE WHEN completed THEN 1 ELSE 0 END) > 0
         THEN CAST(
                  CAST(SUM(total_cost_usd) AS DECIMAL(30, 12))
                  / CAST(SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS DECIMAL(20, 0))
              AS DECIMAL(38, 12))
    END AS cost_per_completed_interaction,
    CASE WHEN SUM(CASE WHEN completed THEN 0 ELSE 1 END) = 0 THEN CAST(0 AS DECIMAL(38, 12))
         ELSE SUM(CASE WHEN NOT completed THEN total_cost_usd END)
    END AS abandoned_cost_usd
FROM interactions
GROUP BY date, team, feature, COALESCE(model, '(several)')
ORDER BY date, team, feature, model
