-- vllm_hourly: vLLM's counters turned into hourly increases, per pool, host and model.
--
-- Input: metrics_staged (format 'vllm'), and vllm_context: each series' last sample before
-- the run's window, from the published vllm_counters (pipeline/analyze/history.rs), so the
-- window's first increase is counted even when its metrics files start at midnight. A
-- counter's increase between two samples is
-- their difference, or the later value itself when the counter went down (the server
-- restarted and counted again from zero). Each increase belongs to the hour of the later
-- sample. prefix_cache_hit_ratio = Δhits / Δqueries.
WITH read_samples AS (
    SELECT pool, host, series AS model, metric, ts, value
    FROM metrics_staged
    WHERE format = 'vllm'
    UNION ALL
    SELECT pool, host, model, metric, ts, value
    FROM vllm_context
),
samples AS (
    SELECT pool, host, model, metric, ts, value,
           LAG(value) OVER (PARTITION BY host, model, metric ORDER BY ts, value) AS previous
    FROM read_samples
),
increases AS (
    SELECT pool, host, model, metric, date_trunc('hour', ts) AS hour,
           CASE WHEN value >= previous THEN value - previous ELSE value END AS increase
    FROM samples
    WHERE previous IS NOT NULL
)
SELECT
    hour,
    pool,
    host,
    model,
    SUM(CASE WHEN metric = 'vllm:generation_tokens_total' THEN increase ELSE 0 END) AS generation_tokens,
    SUM(CASE WHEN metric = 'vllm:prompt_tokens_total' THEN increase ELSE 0 END) AS prompt_tokens,
    SUM(CASE WHEN metric = 'vllm:prefix_cache_queries_total' THEN increase ELSE 0 END) AS prefix_cache_queries,
    SUM(CASE WHEN metric = 'vllm:prefix_cache_hits_total' THEN increase ELSE 0 END) AS prefix_cache_hits,
    SUM(CASE WHEN metric = 'vllm:prefix_cache_hits_total' THEN increase ELSE 0 END)
        / NULLIF(SUM(CASE WHEN metric = 'vllm:prefix_cache_queries_total' THEN increase ELSE 0 END), 0) AS prefix_cache_hit_ratio,
    to_char(hour, '%Y-%m-%d') AS date
FROM increases
GROUP BY hour, pool, host, model
ORDER BY hour, pool, host, model
