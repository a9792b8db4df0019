-- vllm_counters: the last value of each vLLM counter series in each hour (per pool, host,
-- model and metric), with the time of that sample.
--
-- Input: metrics_staged (format 'vllm'). A night's first counter increase needs the last
-- sample before it; when the night's metrics files start at midnight, that sample is read
-- back from this table's history (pipeline/analyze/history.rs, vllm_context), so a period run
-- night by night gives the same vllm_hourly as one run over it.
WITH ranked AS (
    SELECT date_trunc('hour', ts) AS hour, pool, host, series AS model, metric, ts, value,
           ROW_NUMBER() OVER (
               PARTITION BY host, series, metric, date_trunc('hour', ts)
               ORDER BY ts DESC, value DESC
           ) AS latest
    FROM metrics_staged
    WHERE format = 'vllm'
)
SELECT hour, pool, host, model, metric, ts AS last_ts, value AS last_value,
       to_char(hour, '%Y-%m-%d') AS date
FROM ranked
WHERE latest = 1
ORDER BY hour, pool, host, model, metric
