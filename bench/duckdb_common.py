"""The part of the DuckDB baselines both do alike (bench/duckdb_baseline.py on the synthetic
log, bench/duckdb_mix.py on the realistic mix): from a table `raw` of request rows and a
table `prices`, drop duplicate ids (keeping the copy with the most output tokens),
sessionise by session (or user) id and a 30-minute gap, price each request, and write
`requests` partitioned by date with the cache, interaction and attribution aggregates."""


def create_requests(con, columns, cost):
    """Creates `requests`: `columns` (of the sessionised rows `s`) plus interaction_id,
    cost_usd (`cost`, an expression over `s` and the model's prices `p`) and date."""
    con.execute(
        f"""
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
        SELECT {columns},
               s.session_key || '@' || strftime(MIN(s.ts) OVER (PARTITION BY s.session_key, s.session_number), '%Y-%m-%dT%H:%M:%SZ') AS interaction_id,
               CAST({cost} AS DECIMAL(38, 12)) AS cost_usd,
               strftime(s.ts, '%Y-%m-%d') AS date
        FROM sessions s LEFT JOIN prices p ON p.model = s.model
        """
    )


def write_request_tables(con, out, attributes):
    """Writes `requests` by date, and cache_hit_ratio, interactions and cost_attribution
    (grouped by date and `attributes`) as Parquet under `out`."""
    con.execute(f"COPY requests TO '{out}/requests' (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)")
    con.execute(
        f"""
        COPY (SELECT date, {attributes}, COUNT(*) AS requests, SUM(input_tokens) AS input_tokens,
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
        COPY (SELECT date, {attributes}, COUNT(*) AS requests, SUM(cost_usd) AS cost_usd
              FROM requests GROUP BY ALL) TO '{out}/cost_attribution.parquet' (FORMAT parquet)
        """
    )
