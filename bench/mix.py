"""The benchmark's realistic mix: what a platform team's nightly job reads, at volume.

Forty days, one log file per source per day (as a gateway or a collector writes them):
- OpenAI Chat Completions records (484,000), Anthropic Messages records (71,000) and the
  gateway's log of a self-hosted vLLM pool (120,000, OpenAI-shaped, `deployment` set), each
  record shaped as the sample's (sample-data/requests/: the records' fields and nesting),
  its ids, times, models, token counts and attribution drawn afresh; one record in 500 is
  logged twice (a retry), as real logs have;
- the pool's GPUs: one p5.48xlarge host (8 GPUs), a DCGM utilisation sample per GPU each
  minute (460,800 rows, dcgm-exporter's CSV as sample-data/metrics/ has it);
- its bill: an hourly FOCUS 1.0 row per host-hour (960 rows, as sample-data/billing/).

Writes WORK_DIR/{logs,metrics,billing}/ and WORK_DIR/inferledger.toml, once (a finished
mix is reused: WORK_DIR/.complete). Deterministic (seeded).

Usage: mix.py WORK_DIR [--scale S]   (S multiplies the request counts; default 1)
"""
import csv
import datetime as dt
import json
import os
import random
import sys

DAYS = 40
LAST_DAY = dt.date(2026, 11, 22)
COUNTS = {"openai": 484_000, "anthropic": 71_000, "gateway": 120_000}
GPUS = 8
HOST = "gpu-chat-1"
RESOURCE = "i-0chatprod001"
HOURLY_USD = "98.32"

TEAMS = [("search", "qa"), ("growth", "summarise"), ("support", "triage"), ("legal", "review"),
         ("platform", "agent"), ("search", "chat")]
OPENAI_MODELS = [("gpt-4o-2024-08-06", 5), ("gpt-4.1-2025-04-14", 3), ("gpt-4o-mini-2024-07-18", 2)]
ANTHROPIC_MODELS = [("claude-sonnet-4-5-20250929", 6), ("claude-haiku-4-5-20251001", 4)]
GATEWAY_MODELS = [("llama-3.1-70b-instruct", 1)]


def weighted(rng, choices):
    total = sum(w for _, w in choices)
    pick = rng.uniform(0, total)
    for value, weight in choices:
        pick -= weight
        if pick <= 0:
            return value
    return choices[-1][0]


def session_times(rng, day_start, count):
    """`count` request times within the day, in sessions of 1-8 requests a minute or so
    apart (so interactions, gaps and sessions across midnight all occur)."""
    times = []
    while len(times) < count:
        start = day_start + rng.uniform(0, 86_400)
        for i in range(rng.randint(1, 8)):
            times.append((start + i * rng.uniform(20, 120), len(times)))
    return sorted(times[:count])


def openai_record(rng, n, ts, model, deployment, session):
    prompt = rng.randint(200, 8_000)
    cached = (prompt * rng.randint(0, 8) // 10) // 128 * 128 if prompt >= 1_024 else 0
    completion = rng.randint(20, 1_500)
    team, feature = TEAMS[session % len(TEAMS)]
    record = {
        "id": f"chatcmpl-mix{n:09d}", "object": "chat.completion", "created": int(ts),
        "model": model, "deployment": deployment, "duration_ms": rng.randint(300, 30_000),
        "metadata": {"team": team, "feature": feature, "user_id": f"u{session % 997}",
                     "session_id": f"s{session:08d}"},
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": cached},
                  "completion_tokens_details": {"reasoning_tokens": 0}},
    }
    if deployment == "llama-70b-prod":
        # The gateway in front of vLLM logs no cache details.
        del record["usage"]["prompt_tokens_details"], record["usage"]["completion_tokens_details"]
    return record


def anthropic_record(rng, n, ts, model, session):
    uncached = rng.randint(20, 400)
    write = rng.choice([0, 0, 0, rng.randint(1_024, 12_000)])
    read = rng.choice([0, rng.randint(1_024, 20_000)])
    team, feature = TEAMS[session % len(TEAMS)]
    when = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return {
        "id": f"msg_mix{n:09d}", "type": "message", "role": "assistant", "model": model,
        "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "stop_reason": "end_turn",
        "usage": {"input_tokens": uncached, "cache_creation_input_tokens": write,
                  "cache_read_input_tokens": read,
                  "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
                  "output_tokens": rng.randint(20, 1_200)},
        "duration_ms": rng.randint(300, 30_000), "deployment": "anthropic-prod",
        "metadata": {"team": team, "feature": feature, "user_id": f"a{session % 499}"},
    }


def write_logs(work, rng, scale):
    first = LAST_DAY - dt.timedelta(days=DAYS - 1)
    serial = 0
    for source, total in COUNTS.items():
        folder = os.path.join(work, "logs", source)
        os.makedirs(folder, exist_ok=True)
        per_day = int(total * scale) // DAYS
        session_base = 0
        for d in range(DAYS):
            day = first + dt.timedelta(days=d)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()
            with open(os.path.join(folder, f"{source}-{day}.jsonl"), "w") as out:
                for ts, i in session_times(rng, start, per_day):
                    serial += 1
                    session = session_base + i // 4
                    if source == "openai":
                        record = openai_record(rng, serial, ts, weighted(rng, OPENAI_MODELS), "openai-prod", session)
                    elif source == "anthropic":
                        record = anthropic_record(rng, serial, ts, weighted(rng, ANTHROPIC_MODELS), session)
                    else:
                        record = openai_record(rng, serial, ts, weighted(rng, GATEWAY_MODELS), "llama-70b-prod", session)
                    line = json.dumps(record, separators=(",", ":")) + "\n"
                    out.write(line)
                    if serial % 500 == 0:
                        out.write(line)  # a retry logged twice
            session_base += per_day


def write_metrics(work, rng):
    folder = os.path.join(work, "metrics")
    os.makedirs(folder, exist_ok=True)
    first = LAST_DAY - dt.timedelta(days=DAYS - 1)
    start = int(dt.datetime(first.year, first.month, first.day, tzinfo=dt.timezone.utc).timestamp())
    with open(os.path.join(folder, "dcgm.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value", "__name__", "Hostname", "gpu", "UUID"])
        for minute in range(DAYS * 1_440):
            hour_of_day = (minute // 60) % 24
            busy = 15 + 50 * (8 <= hour_of_day < 20)
            for gpu in range(GPUS):
                w.writerow([start + minute * 60, max(0, min(100, busy + rng.randint(-10, 10))),
                            "DCGM_FI_DEV_GPU_UTIL", HOST, gpu, f"GPU-{100 + gpu}"])


def write_bill(work):
    folder = os.path.join(work, "billing")
    os.makedirs(folder, exist_ok=True)
    first = LAST_DAY - dt.timedelta(days=DAYS - 1)
    header = ["BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
              "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
              "ChargePeriodStart", "CommitmentDiscountId", "ConsumedQuantity", "ConsumedUnit", "EffectiveCost",
              "ListCost", "PricingCategory", "ProviderName", "RegionId", "ResourceId", "ResourceName",
              "ServiceCategory", "ServiceName", "Tags"]
    with open(os.path.join(folder, "focus.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for h in range(DAYS * 24):
            start = dt.datetime(first.year, first.month, first.day) + dt.timedelta(hours=h)
            end = start + dt.timedelta(hours=1)
            period_start = start.replace(day=1, hour=0)
            period_end = (period_start + dt.timedelta(days=32)).replace(day=1)
            fmt = "%Y-%m-%d %H:%M:%S"
            w.writerow([HOURLY_USD, "210987654321", "USD", period_end.strftime(fmt), period_start.strftime(fmt),
                        "Usage", "NULL", f"${HOURLY_USD} per On Demand Linux p5.48xlarge Instance Hour",
                        "Usage-Based", end.strftime(fmt), start.strftime(fmt), "NULL", "1.000000000000000", "Hours",
                        HOURLY_USD, HOURLY_USD, "Standard", "AWS", "us-east-2", RESOURCE, HOST, "Compute",
                        "Amazon Elastic Compute Cloud", '{"team": "platform", "pool": "chat-prod"}'])


CONFIG = """# The benchmark's realistic mix (bench/mix.py).
[[requests]]
name = "openai"
path = "logs/openai"
format = "openai"

[[requests]]
name = "anthropic"
path = "logs/anthropic"
format = "anthropic"

[[requests]]
name = "gateway"
path = "logs/gateway"
format = "openai"
[requests.defaults]
provider = "vllm"

[[billing]]
name = "focus"
path = "billing/focus.csv"
format = "focus"

[[gpu_metrics]]
name = "dcgm"
path = "metrics/dcgm.csv"
format = "dcgm"

[[pools]]
name = "chat-prod"
resources = ["i-0chatprod*"]
deployments = ["llama-70b-prod"]
hosts = ["gpu-chat-*"]
api_model = "gpt-4o"
"""


def main():
    work = sys.argv[1]
    scale = float(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1.0
    done = os.path.join(work, ".complete")
    if os.path.exists(done):
        return
    rng = random.Random(31)
    write_logs(work, rng, scale)
    write_metrics(work, rng)
    write_bill(work)
    with open(os.path.join(work, "inferledger.toml"), "w") as f:
        f.write(CONFIG)
    open(done, "w").close()


if __name__ == "__main__":
    main()
