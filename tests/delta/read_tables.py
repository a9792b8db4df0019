"""Reads inferledger's published tables with two Delta Lake readers that are not ours:
DuckDB's `delta` extension (delta-kernel-rs, through duckdb-ext-delta) and the Python
`deltalake` package (delta-rs, querying with its own DataFusion). For each output folder
and each `table:expression` argument it prints, in one JSON object keyed by folder, then
table, the table's row count and the expression's value (cast to text) as each reader
computes them over the table's latest version. One process reads many folders (the
kill-at-every-step test's) without paying for the imports each time.

    python read_tables.py OUT [OUT ...] -- requests:SUM(cost_usd) interactions:COUNT(*) ...
"""

import glob
import json
import os
import sys

import duckdb
from deltalake import DeltaTable, QueryBuilder


def delta_extension() -> str:
    """The delta extension's file, as the duckdb-ext-delta wheel installs it."""
    site = os.path.dirname(os.path.dirname(duckdb.__file__))
    found = glob.glob(
        os.path.join(site, "duckdb_ext", "extensions", "*", "*", "delta.duckdb_extension")
    )
    if not found:
        sys.exit(f"no delta.duckdb_extension under {site}/duckdb_ext")
    return found[0]


def main() -> None:
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit("usage: read_tables.py OUT [OUT ...] -- TABLE:EXPRESSION ...")
    split = args.index("--")
    folders, asked = args[:split], args[split + 1 :]
    con = duckdb.connect()
    con.execute(f"LOAD '{delta_extension()}'")
    print(json.dumps({out: read_folder(con, out, asked) for out in folders}))


def read_folder(con, out: str, asked: list) -> dict:
    """Each asked table of one output folder, as both readers see it."""
    result = {}
    for arg in asked:
        table, expression = arg.split(":", 1)
        path = os.path.join(out, table)
        duck = con.execute(
            f"SELECT COUNT(*), CAST({expression} AS VARCHAR) FROM delta_scan('{path}')"
        ).fetchone()
        dt = DeltaTable(path)
        batches = (
            QueryBuilder()
            .register("t", dt)
            .execute(f"SELECT CAST(COUNT(*) AS VARCHAR) AS n, CAST({expression} AS VARCHAR) AS v FROM t")
            .read_all()
        )
        rows = batches.column(0)[0].as_py()
        value = batches.column(1)[0].as_py()
        result[table] = {
            "duckdb": [str(duck[0]), duck[1]],
            "deltalake": [rows, value],
            "version": dt.version(),
        }
    return result


if __name__ == "__main__":
    main()
