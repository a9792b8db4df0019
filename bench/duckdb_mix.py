"""What a user would write instead of inferledger for the realistic mix (bench/mix.py), in
DuckDB and hand-written SQL: read the three request logs (OpenAI, Anthropic, the vLLM
gateway's), normalise them to one table (Anthropic's cache tokens beside its input, OpenAI's
inside), drop duplicate ids (keeping the copy with the most output tokens), price each API
request in decimal at the catalog's prices of the mix's models (cache reads and writes at
their own prices; the self-hosted pool's requests carry no API price), sessionise by
session (or user) and a 30-minute gap, and write `requests` partitioned by date with the
cache, interaction and attribution aggregates; then read the DCGM samples into hourly GPU
utilisation, the FOCUS bill into hourly cost, and split each hour's cost over the pool's
requests of that hour by tokens (the busy share; the rest idle), as Parquet.

Usage: duckdb_mix.py WORK_DIR OUT_DIR
"""
import sys

import duckdb

from duckdb_common import create_requests, write_request_tables

work, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")  # the machine's cores; inferledger uses both too
con.execute("SET preserve_insertion_order = false")
# USD per million tokens: input, cache read, cache write (5 minutes), output (inferledger
# prices MODEL shows the same entries).
con.execute(
    """
    CREATE TABLE prices AS SELECT * FROM (VALUES
        ('gpt-4o-2024-08-06', 2.50, 1.25, 2.50, 10.00),
        ('gpt-4.1-2025-04-14', 2.00, 0.50, 2.00, 8.00),
        ('gpt-4o-mini-2024-07-18', 0.15, 0.075, 0.15, 0.60),
        ('claude-sonnet-4-5-20250929', 3.00, 0.30, 3.75, 15.00),
        ('claude-haiku-4-5-20251001', 1.00, 0.10, 1.25, 5.00)
    ) AS p(model, input_per_m, cache_read_per_m, cache_write_per_m, output_per_m)
    """
)
openai_columns = """{id: 'VARCHAR', created: 'BIGINT', model: 'VARCHAR', deployment: 'VARCHAR',
    duration_ms: 'BIGINT',
    usage: 'STRUCT(prompt_tokens BIGINT, completion_tokens BIGINT,
                   prompt_tokens_details STRUCT(cached_tokens BIGINT))',
    metadata: 'STRUCT(team VARCHAR, feature VARCHAR, user_id VARCHAR, session_id VARCHAR)'}"""
con.execute(
    f"""
    CREATE TABLE raw AS
    SELECT id AS request_id, to_timestamp(created) AS ts,
           CASE WHEN deployment = 'llama-70b-prod' THEN 'vllm' ELSE 'openai' END AS provider,
           model, deployment, duration_ms, metadata.team AS team, metadata.feature AS feature,
           metadata.user_id AS user_id, metadata.session_id AS session_id,
           CAST(COALESCE(usage.prompt_tokens, 0) AS BIGINT) AS input_tokens,
           CAST(COALESCE(usage.prompt_tokens_details.cached_tokens, 0) AS BIGINT) AS cache_read_tokens,
           CAST(0 AS BIGINT) AS cache_write_tokens,
           CAST(COALESCE(usage.completion_tokens, 0) AS BIGINT) AS output_tokens
    FROM read_json(['{work}/logs/openai/*.jsonl', '{work}/logs/gateway/*.jsonl'],
                   format = 'newline_delimited', ignore_errors = true, columns = {openai_columns})
    WHERE id IS NOT NULL AND created IS NOT NULL
    UNION ALL
    SELECT id, CAST(created_at AS TIMESTAMPTZ), 'anthropic', model, deployment, duration_ms,
           metadata.team, metadata.feature, metadata.user_id, NULL,
           CAST(usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens AS BIGINT),
           CAST(usage.cache_read_input_tokens AS BIGINT),
           CAST(usage.cache_creation_input_tokens AS BIGINT),
           CAST(usage.output_tokens AS BIGINT)
    FROM read_json('{work}/logs/anthropic/*.jsonl', format = 'newline_delimited', ignore_errors = true,
                   columns = {{id: 'VARCHAR', created_at: 'VARCHAR', model: 'VARCHAR', deployment: 'VARCHAR',
                              duration_ms: 'BIGINT',
                              usage: 'STRUCT(input_tokens BIGINT, cache_creation_input_tokens BIGINT,
                                             cache_read_input_tokens BIGINT, output_tokens BIGINT)',
                              metadata: 'STRUCT(team VARCHAR, feature VARCHAR, user_id VARCHAR)'}})
    WHERE id IS NOT NULL AND created_at IS NOT NULL
    """
)
create_requests(
    con,
    "s.request_id, s.ts, s.provider, s.duration_ms, s.model, s.deployment, s.team, s.feature, "
    "s.user_id, s.input_tokens, s.cache_read_tokens, s.cache_write_tokens, s.output_tokens",
    "(s.input_tokens - s.cache_read_tokens - s.cache_write_tokens) * CAST(p.input_per_m AS DECIMAL(38, 12)) / 1000000"
    " + s.cache_read_tokens * CAST(p.cache_read_per_m AS DECIMAL(38, 12)) / 1000000"
    " + s.cache_write_tokens * CAST(p.cache_write_per_m AS DECIMAL(38, 12)) / 1000000"
    " + s.output_tokens * CAST(p.output_per_m AS DECIMAL(38, 12)) / 1000000",
)
write_request_tables(con, out, "provider, model, team, feature")
# The pool: DCGM samples into hourly utilisation, the bill into hourly cost, each hour's
# cost split over its requests by tokens (the busy share), the rest idle.
con.execute(
    f"""
    CREATE TABLE utilisation AS
    SELECT date_trunc('hour', to_timestamp("timestamp")) AS hour, Hostname AS host,
           AVG(value) / 100.0 AS utilisation, COUNT(DISTINCT gpu) AS gpus
    FROM read_csv('{work}/metrics/dcgm.csv', header = true)
    WHERE "__name__" = 'DCGM_FI_DEV_GPU_UTIL' GROUP BY ALL
    """
)
con.execute(
    f"""
    CREATE TABLE bill AS
    SELECT CAST(ChargePeriodStart AS TIMESTAMP) AT TIME ZONE 'UTC' AS hour, ResourceName AS host,
           SUM(CAST(BilledCost AS DECIMAL(38, 12))) AS cost_usd
    FROM read_csv('{work}/billing/focus.csv', header = true, all_varchar = true)
    WHERE ChargeCategory = 'Usage' GROUP BY ALL
    """
)
con.execute(f"COPY (SELECT * FROM utilisation) TO '{out}/hourly_utilization.parquet' (FORMAT parquet)")
con.execute(
    f"""
    COPY (
        WITH hourly AS (
            SELECT b.hour, b.cost_usd, COALESCE(u.utilisation, 0) AS utilisation
            FROM bill b LEFT JOIN utilisation u ON u.hour = b.hour AND u.host = b.host
        ),
        pool_requests AS (
            SELECT date_trunc('hour', ts) AS hour, team, feature, model,
                   SUM(input_tokens + output_tokens) AS tokens
            FROM requests WHERE deployment = 'llama-70b-prod' GROUP BY ALL
        )
        SELECT h.hour, r.team, r.feature, r.model,
               CAST(h.cost_usd * CAST(h.utilisation AS DECIMAL(38, 12)) * r.tokens
                    / SUM(r.tokens) OVER (PARTITION BY h.hour) AS DECIMAL(38, 12)) AS gpu_cost_usd,
               CAST(h.cost_usd * (1 - CAST(h.utilisation AS DECIMAL(38, 12))) AS DECIMAL(38, 12)) AS hour_idle_usd
        FROM hourly h JOIN pool_requests r ON r.hour = h.hour
    ) TO '{out}/gpu_cost_attribution.parquet' (FORMAT parquet)
    """
)
total = con.execute("SELECT SUM(cost_usd), COUNT(*) FROM requests").fetchone()
gpu = con.execute("SELECT SUM(cost_usd) FROM bill").fetchone()
print(f"duckdb: {total[1]} requests kept, API ${total[0]}, GPU billed ${gpu[0]}")
