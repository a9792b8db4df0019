"""Writes sample-data/provider/: what OpenAI's and Anthropic's own usage and cost exports
would say about the sample's API traffic, in their API page shapes, with three planted
discrepancies for reconciliation to find:

1. missing logs: on 2026-11-18 OpenAI counted 1.5x the gpt-4o requests, tokens and cost the
   logs hold (a third of that day's traffic went unlogged);
2. an unlogged model: OpenAI billed gpt-4.1-nano-2025-04-14 every day (40 requests a day of
   1,000 prompt and 200 output tokens, at the catalog's $0.10 / $0.40 per million), which
   no log source records;
3. a negotiated discount: Anthropic billed claude-opus-4-1 at 90% of the catalog price.

Everything else equals what the logs say (tokens as logged; cost as priced from the logs,
split by token type as each provider's export breaks it out).

It reads the `requests` table of a run of the sample (`make run` writes out/), with DuckDB
(the benchmark's venv has it):  bench-data/venv/bin/python sample-data/provider_exports.py out
"""
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb

out = sys.argv[1] if len(sys.argv) > 1 else "out"
here = os.path.dirname(os.path.abspath(__file__))
target = os.path.join(here, "provider")
os.makedirs(target, exist_ok=True)

rows = duckdb.connect().sql(
    f"""
    SELECT CAST(date AS VARCHAR) AS date, provider, model, COUNT(*) AS requests,
           SUM(input_tokens) AS input_tokens, SUM(cache_read_tokens) AS cache_read_tokens,
           SUM(cache_write_tokens) AS cache_write_tokens,
           SUM(cache_write_1h_tokens) AS cache_write_1h_tokens,
           SUM(output_tokens) AS output_tokens,
           CAST(SUM(cost_usd - output_cost_usd - read_cost - write_cost) AS VARCHAR) AS input_cost,
           CAST(SUM(read_cost) AS VARCHAR) AS read_cost,
           CAST(SUM(write_cost) AS VARCHAR) AS write_cost,
           CAST(SUM(output_cost_usd) AS VARCHAR) AS output_cost
    FROM (
        -- Each request's cost split by token type as the providers bill it: with X the
        -- prompt at the input price (cost - output + cache saving - write premium), cache
        -- reads X * reads / prompt - saving, writes X * writes / prompt + premium.
        SELECT *,
               CASE WHEN input_tokens > 0 THEN CAST((cost_usd - output_cost_usd + cache_saved_usd - cache_write_premium_usd)
                    * cache_read_tokens / input_tokens AS DECIMAL(38, 12)) - cache_saved_usd ELSE 0 END AS read_cost,
               CASE WHEN input_tokens > 0 THEN CAST((cost_usd - output_cost_usd + cache_saved_usd - cache_write_premium_usd)
                    * cache_write_tokens / input_tokens AS DECIMAL(38, 12)) + cache_write_premium_usd ELSE 0 END AS write_cost
        FROM read_parquet('{out}/requests/*/*.parquet', hive_partitioning = true)
    )
    WHERE pool IS NULL AND provider IN ('openai', 'anthropic') AND cost_usd IS NOT NULL
    GROUP BY ALL ORDER BY ALL
    """
).fetchall()

# The dated ids the providers report for the logs' aliases.
SNAPSHOTS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14"}
MISSING_DAY, MISSING_MODEL, MISSING_FACTOR = "2026-11-18", "gpt-4o-2024-08-06", Decimal("1.5")
DISCOUNTED, DISCOUNT = "claude-opus-4-1-20250805", Decimal("0.9")
NANO = "gpt-4.1-nano-2025-04-14"
NANO_REQUESTS, NANO_IN, NANO_OUT = 40, 1000, 200
NANO_IN_COST = Decimal(NANO_REQUESTS * NANO_IN) * Decimal("0.10") / 1_000_000
NANO_OUT_COST = Decimal(NANO_REQUESTS * NANO_OUT) * Decimal("0.40") / 1_000_000


def day_start(date):
    return datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc)


def epoch(date):
    return int(day_start(date).timestamp())


def rfc3339(date, days=0):
    return (day_start(date) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def amount(value):
    # Dollars as a JSON number with at most 12 decimals (the catalog's precision).
    return float(round(value, 12))


days = sorted({r[0] for r in rows})
openai_usage, openai_costs, anthropic_usage, anthropic_costs = [], [], [], []
for date in days:
    usage_results, cost_results, a_usage, a_costs = [], [], [], []
    for (d, provider, model, requests, inp, read, write, write_1h, out_tokens, in_cost, read_cost, write_cost, out_cost) in rows:
        if d != date:
            continue
        in_cost, read_cost, write_cost, out_cost = (Decimal(c) for c in (in_cost, read_cost, write_cost, out_cost))
        if provider == "openai":
            factor = MISSING_FACTOR if (date, model) == (MISSING_DAY, MISSING_MODEL) else Decimal(1)
            name = SNAPSHOTS.get(model, model)
            usage_results.append({
                "object": "organization.usage.completions.result",
                "input_tokens": int(inp * factor), "output_tokens": int(out_tokens * factor),
                "input_cached_tokens": int(read * factor), "input_audio_tokens": 0,
                "output_audio_tokens": 0, "num_model_requests": int(requests * factor),
                "project_id": None, "user_id": None, "api_key_id": None, "model": name,
                "batch": False, "service_tier": "default",
            })
            for kind, cost in (("input", in_cost), ("cached input", read_cost), ("output", out_cost)):
                if kind == "cached input" and cost == 0:
                    continue
                cost_results.append({
                    "object": "organization.costs.result",
                    "amount": {"value": amount(cost * factor), "currency": "usd"},
                    "line_item": f"{name}, {kind}", "project_id": None,
                })
        else:
            factor = DISCOUNT if model == DISCOUNTED else Decimal(1)
            a_usage.append({
                "uncached_input_tokens": int(inp - read - write),
                "cache_creation": {"ephemeral_1h_input_tokens": int(write_1h),
                                   "ephemeral_5m_input_tokens": int(write - write_1h)},
                "cache_read_input_tokens": int(read), "output_tokens": int(out_tokens),
                "server_tool_use": {"web_search_requests": 0}, "api_key_id": None,
                "workspace_id": None, "model": model, "service_tier": "standard",
                "context_window": "0-200k",
            })
            for token_type, cost in (("uncached_input_tokens", in_cost), ("cache_read_input_tokens", read_cost),
                                     ("cache_creation.ephemeral_5m_input_tokens", write_cost), ("output_tokens", out_cost)):
                if cost == 0 and token_type.startswith("cache"):
                    continue
                cents = round(cost * factor * 100, 10)
                a_costs.append({
                    "currency": "USD", "amount": format(cents, "f"), "workspace_id": None,
                    "description": f"{model} {token_type}", "cost_type": "tokens",
                    "context_window": "0-200k", "model": model, "service_tier": "standard",
                    "token_type": token_type,
                })
    usage_results.append({
        "object": "organization.usage.completions.result", "input_tokens": NANO_REQUESTS * NANO_IN,
        "output_tokens": NANO_REQUESTS * NANO_OUT, "input_cached_tokens": 0,
        "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": NANO_REQUESTS,
        "project_id": None, "user_id": None, "api_key_id": None, "model": NANO, "batch": False,
        "service_tier": "default",
    })
    for kind, cost in (("input", NANO_IN_COST), ("output", NANO_OUT_COST)):
        cost_results.append({
            "object": "organization.costs.result",
            "amount": {"value": amount(cost), "currency": "usd"},
            "line_item": f"{NANO}, {kind}", "project_id": None,
        })
    bucket = {"object": "bucket", "start_time": epoch(date), "end_time": epoch(date) + 86400}
    openai_usage.append({"object": "page", "data": [dict(bucket, results=usage_results)],
                         "has_more": date != days[-1], "next_page": None})
    openai_costs.append(dict(bucket, results=cost_results))
    a_bucket = {"starting_at": rfc3339(date), "ending_at": rfc3339(date, 1)}
    anthropic_usage.append(dict(a_bucket, results=a_usage))
    anthropic_costs.append(dict(a_bucket, results=a_costs))

# OpenAI usage: one page per day, one page per line (as a paging script saves them).
with open(os.path.join(target, "openai_usage_completions.jsonl"), "w") as f:
    for page in openai_usage:
        f.write(json.dumps(page) + "\n")
# OpenAI costs: one pretty-printed page holding the week.
with open(os.path.join(target, "openai_costs.json"), "w") as f:
    json.dump({"object": "page", "data": openai_costs, "has_more": False, "next_page": None}, f, indent=2)
    f.write("\n")
with open(os.path.join(target, "anthropic_usage_report.json"), "w") as f:
    json.dump({"data": anthropic_usage, "has_more": False, "next_page": None}, f, indent=2)
    f.write("\n")
with open(os.path.join(target, "anthropic_cost_report.json"), "w") as f:
    json.dump({"data": anthropic_costs, "has_more": False, "next_page": None}, f, indent=2)
    f.write("\n")
print(f"wrote {target}/ for {len(days)} days")
