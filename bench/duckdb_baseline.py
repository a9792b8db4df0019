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

from duckdb_common import create_requests, write_request_tables

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
create_requests(
    con,
    "s.request_id, s.ts, s.duration_ms, s.model, s.team, s.feature, s.user_id, "
    "s.input_tokens, s.cache_read_tokens, s.output_tokens, s.reasoning_tokens",
    "(s.input_tokens - s.cache_read_tokens) * CAST(p.input_per_m AS DECIMAL(38, 12)) / 1000000"
    " + s.cache_read_tokens * CAST(p.cache_read_per_m AS DECIMAL(38, 12)) / 1000000"
    " + s.output_tokens * CAST(p.output_per_m AS DECIMAL(38, 12)) / 1000000",
)
write_request_tables(con, out, "model, team, feature")
total = con.execute("SELECT SUM(cost_usd), COUNT(*) FROM requests").fetchone()
print(f"duckdb: {total[1]} requests kept, total ${total[0]}")
