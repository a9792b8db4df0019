"""What a user would write instead of inferledger: DuckDB and hand-written SQL doing the same
work on the benchmark's synthetic OpenAI log (`inferledger synth`): read the JSON lines
(malformed ones skipped; failed requests without usage kept with 0 tokens), drop duplicate ids (keeping the copy with the most output tokens),
normalise the usage fields, price each request in decimal at the catalog's prices of the
log's models, sessionise by the log's session id and a 30-minute gap, and write `requests`
partitioned by date plus the cache, interaction and attribution aggregates as Parquet.

Usage: duckdb_baseline.py LOG.jsonl OUT_DIR
"""
import sys

import duckdb

log, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")  # the machine's cores; inferledger uses both too
con.execute("SET preserve_insertion_order = false")
con.execute(
    """
    CREATE TABLE prices AS SELECT * FROM (VALUES
        ('gpt-4o-mini', 0.15, 0.075, 0.60),
        ('gpt-4o', 2.50, 1.25, 10.00),
        ('gpt-4.1', 2.00, 0.50, 8.00),
        ('gpt-5-mini', 0.25, 0.025, 2.00),
        ('o3', 2.00, 0.50, 8.00)
    ) AS p(model, input_per_m, cache_read_per_m, output_per_m)
    """
)
con.execute(
    f"""
    CREATE TABLE raw AS
    SELECT id AS request_id,
           to_timestamp(created) AS ts,
           model,
           duration_ms,
           metadata.team AS team,
           metadata.feature AS feature,
           metadata.user_id AS user_id,
           metadata.session_id AS session_id,
           CAST(COALESCE(usage.prompt_tokens, 0) AS BIGINT) AS input_tokens,
           CAST(COALESCE(usage.prompt_tokens_details.cached_tokens, 0) AS BIGINT) AS cache_read_tokens,
           CAST(COALESCE(usage.completion_tokens, 0) AS BIGINT) AS output_tokens,
           CAST(COALESCE(usage.completion_tokens_details.reasoning_tokens, 0) AS BIGINT) AS reasoning_tokens
    FROM read_json('{log}', format = 'newline_delimited', ignore_errors = true,
                   columns = {{id: 'VARCHAR', created: 'BIGINT', model: 'VARCHAR', duration_ms: 'BIGINT',
                              usage: 'STRUCT(prompt_tokens BIGINT, completion_tokens BIGINT,
                                      prompt_tokens_details STRUCT(cached_tokens BIGINT),
                                      completion_tokens_details STRUCT(reasoning_tokens BIGINT))',
                              metadata: 'STRUCT(team VARCHAR, feature VARCHAR, user_id VARCHAR, session_id VARCHAR)'}})
    WHERE id IS NOT NULL AND created IS NOT NULL
    """
)
con.execute(
    """
    CREATE TABLE requests AS
    WITH kept AS (
        SELECT * FROM raw
        QUALIFY ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY output_tokens DESC) = 1
    ),
    sessions AS (
        SELECT *,
               SUM(CASE WHEN prev IS NULL OR epoch(ts) - epoch(prev) > 1800 THEN 1 ELSE 0 END)
                   OVER (PARTITION BY session_key ORDER BY ts, request_id) AS session_number
        FROM (
            SELECT k.*, COALESCE('interaction:' || session_id, 'user:' || user_id) AS session_key,
                   LAG(ts) OVER (PARTITION BY COALESCE('interaction:' || session_id, 'user:' || user_id)
                                 ORDER BY ts, request_id) AS prev
            FROM kept k
        )
    )
    SELECT s.request_id, s.ts, s.duration_ms, s.model, s.team, s.feature, s.user_id,
           s.session_key || '@' || strftime(MIN(s.ts) OVER (PARTITION BY s.session_key, s.session_number), '%Y-%m-%dT%H:%M:%SZ') AS interaction_id,
           s.input_tokens, s.cache_read_tokens, s.output_tokens, s.reasoning_tokens,
           CAST((s.input_tokens - s.cache_read_tokens) * CAST(p.input_per_m AS DECIMAL(38, 12)) / 1000000
                + s.cache_read_tokens * CAST(p.cache_read_per_m AS DECIMAL(38, 12)) / 1000000
                + s.output_tokens * CAST(p.output_per_m AS DECIMAL(38, 12)) / 1000000 AS DECIMAL(38, 12)) AS cost_usd,
           strftime(s.ts, '%Y-%m-%d') AS date
    FROM sessions s LEFT JOIN prices p ON p.model = s.model
    """
)
con.execute(f"COPY requests TO '{out}/requests' (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)")
con.execute(
    f"""
    COPY (SELECT date, model, team, feature, COUNT(*) AS requests, SUM(input_tokens) AS input_tokens,
                 SUM(cache_read_tokens) AS cache_read_tokens,
                 SUM(cache_read_tokens) / NULLIF(SUM(input_tokens), 0) AS hit_ratio, SUM(cost_usd) AS cost_usd
          FROM requests GROUP BY ALL) TO '{out}/cache_hit_ratio.parquet' (FORMAT parquet)
    """
)
con.execute(
    f"""
    COPY (SELECT interaction_id, MIN(ts) AS start_ts, MAX(ts) AS end_ts, COUNT(*) AS requests,
                 SUM(input_tokens + output_tokens) AS total_tokens, SUM(cost_usd) AS cost_usd
          FROM requests GROUP BY interaction_id) TO '{out}/interactions.parquet' (FORMAT parquet)
    """
)
con.execute(
    f"""
    COPY (SELECT date, team, feature, model, COUNT(*) AS requests, SUM(cost_usd) AS cost_usd
          FROM requests GROUP BY ALL) TO '{out}/cost_attribution.parquet' (FORMAT parquet)
    """
)
total = con.execute("SELECT SUM(cost_usd), COUNT(*) FROM requests").fetchone()
print(f"duckdb: {total[1]} requests kept, total ${total[0]}")
