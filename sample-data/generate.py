#!/usr/bin/env python3
"""Writes the sample request logs in sample-data/requests/ and prints the figures an
independent implementation (this file: Python's decimal module and its own price table,
copied from the providers' public price pages) expects the pipeline to produce.

Deterministic: re-running writes the same files. Usage: python3 sample-data/generate.py
"""
import csv
import json
import os
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261116)
START = datetime(2026, 11, 16, tzinfo=timezone.utc)
DAYS = 7

# $ per million tokens: input, cache read, cache write 5m, cache write 1h, output.
PRICES = {
    "gpt-4o": ("2.50", "1.25", None, None, "10.00"),
    "gpt-4o-mini": ("0.15", "0.075", None, None, "0.60"),
    "gpt-4.1": ("2.00", "0.50", None, None, "8.00"),
    "gpt-4.1-mini": ("0.40", "0.10", None, None, "1.60"),
    "claude-sonnet-4-5": ("3.00", "0.30", "3.75", "6.00", "15.00"),
    "claude-haiku-4-5": ("1.00", "0.10", "1.25", "2.00", "5.00"),
    "gemini-2.5-flash": ("0.30", "0.03", None, None, "2.50"),
    "claude-opus-4-1": ("15.00", "1.50", "18.75", "30.00", "75.00"),
}
BASE = {
    "gpt-4o-2024-08-06": "gpt-4o",
    "gpt-4o-mini": "gpt-4o-mini",
    "gpt-4.1-2025-04-14": "gpt-4.1",
    "gpt-4.1-mini": "gpt-4.1-mini",
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
    "claude-haiku-4-5-20251001": "claude-haiku-4-5",
    "gemini-2.5-flash": "gemini-2.5-flash",
    "claude-opus-4-1-20250805": "claude-opus-4-1",
}

requests = []  # canonical dicts, as the pipeline should see them (before dedup)


def cost(model, total_input, read, write, write_1h, output):
    base = BASE.get(model)
    if base is None:
        return None
    p_in, p_read, p_w5, p_w1, p_out = (Decimal(x) if x else None for x in PRICES[base])
    p_read = p_read if p_read is not None else p_in
    p_w5 = p_w5 if p_w5 is not None else p_in
    p_w1 = p_w1 if p_w1 is not None else p_w5
    uncached = total_input - read - write
    m = (uncached * p_in + read * p_read + (write - write_1h) * p_w5 + write_1h * p_w1
         + output * p_out)
    return m / Decimal(1_000_000)


def iso(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def day_time(day, rng):
    # Office-hours heavy traffic.
    hour = min(23, max(0, int(rng.gauss(14, 3.5))))
    return START + timedelta(days=day, hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))


# --- OpenAI chat completions: three teams, sessions with ids -------------------------
openai_lines = []
OPENAI_MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini", "gpt-4.1-2025-04-14"]
TEAM_FEATURES = {"search": ["qa", "rerank"], "support": ["chat", "triage"], "growth": ["summarise"]}
session = 0
for day in range(DAYS):
    for _ in range(20):
        session += 1
        team = rng.choice(list(TEAM_FEATURES))
        feature = rng.choice(TEAM_FEATURES[team])
        model = rng.choice(OPENAI_MODELS)
        user = f"u{rng.randrange(40):02d}"
        ts = day_time(day, rng)
        system = rng.choice([900, 1400, 2600])
        history = 0
        turns = rng.choice([1, 2, 3, 3, 4, 5])
        abandon = rng.random() < 0.15
        for turn in range(turns):
            rid = f"chatcmpl-{session:04d}{turn}"
            user_msg = rng.randrange(20, 400)
            prompt = system + history + user_msg
            cached = ((system + history) // 128) * 128 if (turn > 0 and rng.random() < 0.8) else 0
            if turn == 0 and rng.random() < 0.25:
                cached = (system // 128) * 128
            out = rng.randrange(40, 900)
            failed = abandon and turn == turns - 1
            rec = {"id": rid, "object": "chat.completion", "created": int(ts.timestamp()),
                   "model": model, "deployment": "openai-prod",
                   "duration_ms": 300 + out * 15,
                   "metadata": {"team": team, "feature": feature, "user_id": user,
                                "session_id": f"oa-{session:04d}"}}
            if failed:
                rec["status"] = "error"
                rec["error"] = {"message": "Request timed out", "type": "timeout"}
                canon = dict(prompt=0, read=0, write=0, w1h=0, out=0, status="error")
            else:
                rec["usage"] = {"prompt_tokens": prompt, "completion_tokens": out,
                                "total_tokens": prompt + out,
                                "prompt_tokens_details": {"cached_tokens": cached},
                                "completion_tokens_details": {"reasoning_tokens": 0}}
                canon = dict(prompt=prompt, read=cached, write=0, w1h=0, out=out, status="ok")
            openai_lines.append(json.dumps(rec, separators=(",", ":")))
            requests.append(dict(source="openai", id=rid, ts=ts, model=model, user=user,
                                 interaction=f"oa-{session:04d}", completed=None, **canon))
            history = prompt + out - system
            ts += timedelta(seconds=rng.randrange(20, 300))
# Duplicates (a log shipper retried) and bad lines.
for i in (5, 77, 301):
    openai_lines.insert(i + 1, openai_lines[i])
    src = json.loads(openai_lines[i])
    match = next(r for r in requests if r["id"] == src["id"])
    requests.append(dict(match))
openai_lines.insert(40, '{"id":"chatcmpl-broken","object":"chat.completion","created":17')
openai_lines.insert(200, json.dumps({"id": "chatcmpl-neg", "created": int(START.timestamp()) + 3600,
                                     "model": "gpt-4o-mini",
                                     "usage": {"prompt_tokens": -12, "completion_tokens": 5},
                                     "metadata": {"team": "search", "feature": "qa"}},
                                    separators=(",", ":")))
with open(os.path.join(HERE, "requests/openai/chat_completions.jsonl"), "w") as f:
    f.write("\n".join(openai_lines) + "\n")

# --- Anthropic messages: prompt caching with both TTLs; no session ids -------------------
anthropic_lines = []
ANTHROPIC_MODELS = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
msg = 0
for day in range(DAYS):
    for _ in range(9):
        user = f"dev{rng.randrange(12):02d}"
        model = rng.choice(ANTHROPIC_MODELS)
        feature = rng.choice(["code-review", "agent"])
        ts = day_time(day, rng)
        system = rng.choice([3000, 6000, 12000])
        ttl_1h = feature == "agent"
        turns = rng.choice([2, 3, 4, 6])
        history = 0
        explicit_abandon = rng.random() < 0.12
        for turn in range(turns):
            msg += 1
            rid = f"msg_{msg:05d}"
            fresh = rng.randrange(30, 600)
            if turn == 0:
                read, write = (system, 0) if rng.random() < 0.35 else (0, system)
            else:
                read, write = system + history - fresh_prev, fresh_prev
            uncached = fresh
            out = rng.randrange(100, 1500)
            w1h = write if ttl_1h else 0
            usage = {"input_tokens": uncached, "cache_creation_input_tokens": write,
                     "cache_read_input_tokens": read,
                     "cache_creation": {"ephemeral_5m_input_tokens": write - w1h,
                                        "ephemeral_1h_input_tokens": w1h},
                     "output_tokens": out}
            completed = None
            meta = {"team": "platform", "feature": feature, "user_id": user}
            if explicit_abandon and turn == turns - 1:
                meta["completed"] = False
                completed = False
            rec = {"id": rid, "type": "message", "role": "assistant", "model": model,
                   "created_at": iso(ts), "stop_reason": "end_turn", "usage": usage,
                   "duration_ms": 800 + out * 20, "deployment": "anthropic-prod", "metadata": meta}
            anthropic_lines.append(json.dumps(rec, separators=(",", ":")))
            requests.append(dict(source="anthropic", id=rid, ts=ts, model=model, user=user,
                                 interaction=None, completed=completed,
                                 prompt=uncached + read + write, read=read, write=write,
                                 w1h=w1h, out=out, status="ok"))
            fresh_prev = fresh + out
            history += fresh + out
            ts += timedelta(seconds=rng.randrange(30, 600))
# A streaming client logged message 10 twice: first with partial usage, then final.
first = json.loads(anthropic_lines[9])
partial = json.loads(anthropic_lines[9])
partial["usage"]["output_tokens"] = 1
anthropic_lines.insert(9, json.dumps(partial, separators=(",", ":")))
requests.append(dict(next(r for r in requests if r["id"] == first["id"]), out=1))
anthropic_lines.insert(60, json.dumps({"id": "msg_nousage", "type": "message", "model": "claude-haiku-4-5",
                                       "created_at": "2026-11-18T10:00:00Z",
                                       "metadata": {"team": "platform", "feature": "agent"}},
                                      separators=(",", ":")))
with open(os.path.join(HERE, "requests/anthropic/messages.jsonl"), "w") as f:
    f.write("\n".join(anthropic_lines) + "\n")

# --- Anthropic batch jobs: no user waiting (for the recommendation rules) -----------------
# finance/nightly-report: long Claude Opus 4.1 reports every night, no prompt caching, at
# interactive prices. platform/doc-ingest: 1-hour cache writes that are never read back.
jobs = []
brng = random.Random(99)
for day in range(DAYS):
    t = START + timedelta(days=day, hours=2)
    for k in range(115):
        rid = f"msg_job_{day}_{k:03d}"
        prompt = brng.randrange(80_000, 120_000)
        out = brng.randrange(12_000, 20_000)
        jobs.append({"id": rid, "type": "message", "role": "assistant", "model": "claude-opus-4-1-20250805",
                     "created_at": iso(t), "stop_reason": "end_turn",
                     "usage": {"input_tokens": prompt, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                               "output_tokens": out},
                     "duration_ms": 20_000 + out * 12, "metadata": {"team": "finance", "feature": "nightly-report"}})
        requests.append(dict(source="anthropic", id=rid, ts=t, model="claude-opus-4-1-20250805",
                             user="team:finance/nightly-report", interaction=None, completed=None,
                             prompt=prompt, read=0, write=0, w1h=0, out=out, status="ok"))
        t += timedelta(seconds=brng.randrange(20, 90))
    t = START + timedelta(days=day, hours=6)
    for k in range(8):
        rid = f"msg_ingest_{day}_{k}"
        written = 8000
        jobs.append({"id": rid, "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
                     "created_at": iso(t), "stop_reason": "end_turn",
                     "usage": {"input_tokens": 200, "cache_creation_input_tokens": written, "cache_read_input_tokens": 0,
                               "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": written},
                               "output_tokens": 300},
                     "duration_ms": 4000, "metadata": {"team": "platform", "feature": "doc-ingest"}})
        requests.append(dict(source="anthropic", id=rid, ts=t, model="claude-haiku-4-5-20251001",
                             user="team:platform/doc-ingest", interaction=None, completed=None,
                             prompt=200 + written, read=0, write=written, w1h=written, out=300, status="ok"))
        t += timedelta(hours=2)
with open(os.path.join(HERE, "requests/anthropic/batch_jobs.jsonl"), "w") as f:
    f.write("\n".join(json.dumps(r, separators=(",", ":")) for r in jobs) + "\n")

# --- LiteLLM SpendLogs export (CSV): Gemini and an unpriced model ------------------------
litellm_rows = []
for day in range(DAYS):
    for k in range(12):
        sid = f"ll-{day}-{k}"
        model = "gemini-2.5-flash" if k % 6 else "mistral-large-latest"
        provider = "gemini" if k % 6 else "mistral"
        ts = day_time(day, rng)
        for turn in range(rng.choice([1, 2, 3])):
            rid = f"ll-{day}{k:02d}{turn}"
            prompt = rng.randrange(300, 5000)
            cached = (prompt // 2 // 64) * 64 if turn > 0 else 0
            out = rng.randrange(50, 700)
            start = ts.replace(tzinfo=None)
            end = start + timedelta(milliseconds=400 + out * 8)
            meta = {"feature": "translate", "usage_object": {"prompt_tokens_details": {"cached_tokens": cached}}}
            # LiteLLM's own `spend`, at its price table's rates per million tokens (1.110.2:
            # gemini-2.5-flash $0.30 / cached $0.03 / output $2.50; mistral-large-latest
            # $0.50 / $0.05 / $1.50, a model the built-in catalog lacks).
            rates = ((Decimal("0.30"), Decimal("0.03"), Decimal("2.50")) if k % 6
                     else (Decimal("0.50"), Decimal("0.05"), Decimal("1.50")))
            spend = ((prompt - cached) * rates[0] + cached * rates[1] + out * rates[2]) / Decimal(1_000_000)
            litellm_rows.append({
                "request_id": rid, "call_type": "acompletion", "api_key": "hashed-8c1f",
                "spend": str(spend.normalize()), "total_tokens": prompt + out, "prompt_tokens": prompt,
                "completion_tokens": out,
                "startTime": start.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "endTime": end.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "model": model, "model_group": f"{model}-group", "custom_llm_provider": provider,
                "user": "", "team_id": "localisation", "end_user": f"t{k % 5}", "session_id": sid,
                "status": "success", "metadata": json.dumps(meta), "request_tags": '["batch-ok"]'})
            requests.append(dict(source="litellm", id=rid, ts=ts, model=model, user=f"t{k % 5}",
                                 interaction=sid, completed=None, prompt=prompt, read=cached,
                                 write=0, w1h=0, out=out, status="ok"))
            ts += timedelta(seconds=rng.randrange(10, 120))
bad = dict(litellm_rows[3], request_id="ll-bad", prompt_tokens="n/a")
litellm_rows.insert(50, bad)
with open(os.path.join(HERE, "requests/litellm/spend_logs.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(litellm_rows[0]))
    writer.writeheader()
    writer.writerows(litellm_rows)

# --- OpenTelemetry GenAI spans (read with format = "auto") ------------------------------
otel_lines = []
for day in range(DAYS):
    for t in range(5):
        trace = f"{day:02d}{t:02d}" + "ab" * 14
        ts = day_time(day, rng)
        for s in range(rng.choice([2, 3, 4])):
            span = f"{day:02d}{t:02d}{s:02d}" + "cd" * 5
            prompt = rng.randrange(1000, 8000)
            cached = (prompt * 3 // 4 // 128) * 128 if s > 0 else 0
            out = rng.randrange(20, 400)
            end = ts + timedelta(milliseconds=500 + out * 10)
            old_names = (day + s) % 3 == 0
            attrs = {"gen_ai.system": "openai", "gen_ai.operation.name": "chat",
                     "gen_ai.request.model": "gpt-4.1-mini", "gen_ai.usage.input_tokens": prompt,
                     "gen_ai.usage.output_tokens": out, "team": "search", "feature": "agent",
                     "user.id": f"svc-{t}"}
            attrs["gen_ai.usage.cache_read_input_tokens" if old_names
                  else "gen_ai.usage.cache_read.input_tokens"] = cached
            otel_lines.append(json.dumps({"trace_id": trace, "span_id": span,
                                          "name": "chat gpt-4.1-mini", "kind": "CLIENT",
                                          "start_time": iso(ts), "end_time": iso(end),
                                          "status": {"code": "OK"}, "attributes": attrs},
                                         separators=(",", ":")))
            requests.append(dict(source="otel", id=span, ts=ts, model="gpt-4.1-mini",
                                 user=f"svc-{t}", interaction=trace, completed=None,
                                 prompt=prompt, read=cached, write=0, w1h=0, out=out, status="ok"))
            ts = end + timedelta(seconds=rng.randrange(1, 30))
with open(os.path.join(HERE, "requests/otel/genai_spans.jsonl"), "w") as f:
    f.write("\n".join(otel_lines) + "\n")

# --- Self-hosted pools: request logs, GPU bills, GPU metrics (issue: GPU billing) ---------
# Pool chat-prod: two p5.48xlarge (8 × H100 each) on demand, billed in a FOCUS export,
# serving deployment llama-70b-prod, with DCGM utilisation samples. Pool batch-pool: one
# g6e.12xlarge (4 × L40S) on spot, billed in a CUR export, serving llama-8b-batch a couple
# of hours a night (mostly idle). A g5.xlarge dev box belongs to no pool.
grng = random.Random(7)
HOURS = DAYS * 24
P5_RATE = Decimal("98.32")
DEVBOX_RATE = Decimal("1.006")
FOCUS_COLUMNS = ["BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
                 "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
                 "ChargePeriodStart", "CommitmentDiscountId", "ConsumedQuantity", "ConsumedUnit",
                 "EffectiveCost", "ListCost", "PricingCategory", "ProviderName", "RegionId", "ResourceId",
                 "ResourceName", "ServiceCategory", "ServiceName", "Tags"]


def focus_time(ts):
    return ts.strftime("%Y-%m-%d %H:%M:%S")


focus_rows = []
gpu_billed = Decimal(0)
unassigned = Decimal(0)
non_gpu_rows = 0


def focus(cost, category, description, start, end, quantity, unit, resource, name, pricing="Standard",
          frequency="Usage-Based", service="Amazon Elastic Compute Cloud", tags=None):
    focus_rows.append({
        "BilledCost": f"{cost:.8f}", "BillingAccountId": "210987654321", "BillingCurrency": "USD",
        "BillingPeriodEnd": "2026-12-01 00:00:00", "BillingPeriodStart": "2026-11-01 00:00:00",
        "ChargeCategory": category, "ChargeClass": "NULL", "ChargeDescription": description,
        "ChargeFrequency": frequency, "ChargePeriodEnd": focus_time(end), "ChargePeriodStart": focus_time(start),
        "CommitmentDiscountId": "NULL", "ConsumedQuantity": quantity, "ConsumedUnit": unit,
        "EffectiveCost": f"{cost:.8f}", "ListCost": f"{cost:.8f}", "PricingCategory": pricing,
        "ProviderName": "AWS", "RegionId": "us-east-2", "ResourceId": resource, "ResourceName": name,
        "ServiceCategory": "Compute", "ServiceName": service,
        "Tags": json.dumps(tags) if tags else "NULL"})


for h in range(HOURS):
    start = START + timedelta(hours=h)
    end = start + timedelta(hours=1)
    for node in (1, 2):
        focus(P5_RATE, "Usage", "$98.32 per On Demand Linux p5.48xlarge Instance Hour", start, end,
              "1.000000000000000", "Hours", f"i-0chatprod00{node}", f"gpu-chat-{node}",
              tags={"team": "platform", "pool": "chat-prod"})
        gpu_billed += P5_RATE
    focus(DEVBOX_RATE, "Usage", "$1.006 per On Demand Linux g5.xlarge Instance Hour", start, end,
          "1.000000000000000", "Hours", "i-0devbox42", "dev-notebook",
          frequency="Usage-based" if h % 24 == 5 else "Usage-Based")
    gpu_billed += DEVBOX_RATE
    unassigned += DEVBOX_RATE
for day in range(DAYS):
    start = START + timedelta(days=day)
    focus(Decimal("4.10"), "Usage", "$0.023 per GB-Month of storage used", start, start + timedelta(days=1),
          "178.26", "GB-Months", f"arn:aws:s3:::model-weights", "model-weights", service="Amazon Simple Storage Service")
    focus(Decimal("2.0016"), "Usage", "$0.0834 per On Demand Linux t3.large Instance Hour", start,
          start + timedelta(days=1), "24.000000000000000", "Hours", "i-0gateway01", "api-gateway")
    non_gpu_rows += 2
# A one-time credit against a chat node (negative GPU spend), and an account-wide credit.
credit_at = START + timedelta(days=3, hours=9)
focus(Decimal("-50.00"), "Credit", "AWS support credit for p5.48xlarge capacity issue", credit_at, credit_at,
      "0", "Hours", "i-0chatprod001", "gpu-chat-1", pricing="NULL", frequency="One-Time")
gpu_billed += Decimal("-50.00")
focus(Decimal("-12.00"), "Credit", "Promotional credit", credit_at, credit_at, "NULL", "NULL", "NULL", "NULL",
      pricing="NULL", frequency="One-Time", service="NULL")
non_gpu_rows += 1
with open(os.path.join(HERE, "billing/focus_aws_week.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=FOCUS_COLUMNS, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    writer.writerows(focus_rows)

# CUR 2.0 (CSV): the spot batch node, hour by hour at a moving spot price, and EBS volumes.
cur_rows = []
spot_prices = []
for h in range(HOURS):
    start = START + timedelta(hours=h)
    price = Decimal("4.2") + Decimal(grng.randrange(-120, 121)) / Decimal(100)
    spot_prices.append(price)
    gpu_billed += price
    cur_rows.append({"line_item_usage_start_date": iso(start), "line_item_usage_end_date": iso(start + timedelta(hours=1)),
                     "line_item_resource_id": "i-0batch01", "line_item_usage_type": "USE2-SpotUsage:g6e.12xlarge",
                     "line_item_line_item_type": "Usage", "line_item_unblended_cost": str(price),
                     "line_item_net_unblended_cost": str(price), "line_item_usage_amount": "1",
                     "product_instance_type": "g6e.12xlarge", "product_region_code": "us-east-2",
                     "pricing_public_on_demand_cost": "10.49264", "bill_billing_entity": "AWS"})
for day in range(DAYS):
    start = START + timedelta(days=day)
    cur_rows.append({"line_item_usage_start_date": iso(start), "line_item_usage_end_date": iso(start + timedelta(days=1)),
                     "line_item_resource_id": "vol-0batchscratch", "line_item_usage_type": "USE2-EBS:VolumeUsage.gp3",
                     "line_item_line_item_type": "Usage", "line_item_unblended_cost": "0.5333",
                     "line_item_net_unblended_cost": "0.5333", "line_item_usage_amount": "16.0",
                     "product_instance_type": "", "product_region_code": "us-east-2",
                     "pricing_public_on_demand_cost": "0.5333", "bill_billing_entity": "AWS"})
    non_gpu_rows += 1
with open(os.path.join(HERE, "billing/cur_week.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(cur_rows[0]))
    writer.writeheader()
    writer.writerows(cur_rows)

# Self-hosted request logs (vLLM's OpenAI-compatible responses, logged by the gateway).
selfhosted = []
chat_busy_by_hour = defaultdict(float)
batch_intervals = []
n = 0
for h in range(HOURS):
    hour_start = START + timedelta(hours=h)
    hod = h % 24
    per_hour = int(30 * (0.25 + 0.75 * max(0.0, 1 - abs(hod - 14) / 9)))
    for _ in range(per_hour):
        n += 1
        ts = hour_start + timedelta(seconds=grng.randrange(0, 3600))
        prompt = grng.randrange(400, 6000)
        out = grng.randrange(50, 900)
        duration = 200 + out * 25
        selfhosted.append({"id": f"cmpl-chat-{n:05d}", "object": "chat.completion", "created": int(ts.timestamp()),
                           "model": "llama-3.1-70b-instruct", "deployment": "llama-70b-prod", "duration_ms": duration,
                           "usage": {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out},
                           "metadata": {"team": grng.choice(["support", "search"]), "feature": "chat",
                                        "user_id": f"c{grng.randrange(200)}"}})
        requests.append(dict(source="selfhosted", id=selfhosted[-1]["id"], ts=datetime.fromtimestamp(int(ts.timestamp()), timezone.utc),
                             model="llama-3.1-70b-instruct", user=selfhosted[-1]["metadata"]["user_id"], interaction=None,
                             completed=None, prompt=prompt, read=0, write=0, w1h=0, out=out, status="ok"))
    if hod in (1, 2):
        # The nightly job: requests back to back, some overlapping.
        t = hour_start + timedelta(minutes=5)
        for k in range(12):
            n += 1
            duration = grng.randrange(30_000, 150_000)
            prompt = grng.randrange(2000, 12000)
            out = grng.randrange(200, 2000)
            selfhosted.append({"id": f"cmpl-batch-{n:05d}", "object": "chat.completion", "created": int(t.timestamp()),
                               "model": "llama-3.1-8b-instruct", "deployment": "llama-8b-batch", "duration_ms": duration,
                               "usage": {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out},
                               "metadata": {"team": "growth", "feature": "nightly-digest", "batch": True}})
            requests.append(dict(source="selfhosted", id=selfhosted[-1]["id"], ts=datetime.fromtimestamp(int(t.timestamp()), timezone.utc),
                                 model="llama-3.1-8b-instruct", user="team:growth/nightly-digest", interaction=None,
                                 completed=None, prompt=prompt, read=0, write=0, w1h=0, out=out, status="ok"))
            # The log says `created` in whole seconds: the interval starts there.
            batch_intervals.append((int(t.timestamp()), int(t.timestamp()) + duration / 1000))
            t += timedelta(milliseconds=duration - grng.randrange(0, 20_000))
with open(os.path.join(HERE, "requests/selfhosted/vllm_gateway.jsonl"), "w") as f:
    f.write("\n".join(json.dumps(r, separators=(",", ":")) for r in selfhosted) + "\n")

# DCGM for chat-prod: GPU_UTIL of 16 GPUs every 30 minutes, following the traffic.
dcgm_lines = ["timestamp,value,__name__,Hostname,gpu,UUID"]
dcgm_by_hour = defaultdict(list)
for h in range(HOURS):
    hod = h % 24
    base = 15 + 60 * max(0.0, 1 - abs(hod - 14) / 9)
    for half in (0, 1):
        ts = START + timedelta(hours=h, minutes=30 * half + 1)
        for node in (1, 2):
            for gpu in range(8):
                value = max(0, min(100, int(base + grng.randrange(-10, 11))))
                dcgm_lines.append(f"{int(ts.timestamp())},{value},DCGM_FI_DEV_GPU_UTIL,gpu-chat-{node},{gpu},GPU-{node}{gpu:02d}")
                dcgm_by_hour[h].append(value / 100)
with open(os.path.join(HERE, "metrics/dcgm_chat_prod.csv"), "w") as f:
    f.write("\n".join(dcgm_lines) + "\n")

# vLLM counters for the batch node, scraped every 15 minutes, with a restart on day 4.
vllm_lines = []
counter = 0
for q in range(HOURS * 4):
    ts = START + timedelta(minutes=15 * q)
    if q == 4 * 24 * 3 + 10:
        counter = 0  # the server restarted
    if (q // 4) % 24 in (1, 2):
        counter += 9000
    vllm_lines.append(f'vllm:generation_tokens_total{{model_name="llama-3.1-8b-instruct",instance="gpu-batch-1"}} '
                      f'{counter} {int(ts.timestamp() * 1000)}')
with open(os.path.join(HERE, "metrics/vllm_batch.prom"), "w") as f:
    f.write("# TYPE vllm:generation_tokens_total counter\n" + "\n".join(vllm_lines) + "\n")

# Independent expectations for the pools.
def union_by_hour(intervals):
    intervals = sorted(intervals)
    merged = []
    for s, e in intervals:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    busy = defaultdict(float)
    for s, e in merged:
        h = int(s // 3600)
        while h * 3600 < e:
            busy[h] += min(e, (h + 1) * 3600) - max(s, h * 3600)
            h += 1
    return busy


batch_busy = union_by_hour(batch_intervals)
batch_util = sum(batch_busy.values()) / 3600 / HOURS
chat_util = sum(sum(v) / len(v) for v in dcgm_by_hour.values()) / HOURS
print(f"self-hosted requests: {len(selfhosted)}")
print(f"GPU spend billed: {gpu_billed.normalize()}, unassigned: {unassigned.normalize()}, non-GPU rows: {non_gpu_rows}")
print(f"batch-pool utilisation over the week (interval union): {batch_util:.9f}")
print(f"chat-prod utilisation over the week (DCGM mean): {chat_util:.9f}")
print(f"spot price min {min(spot_prices)}, max {max(spot_prices)}")


# --- Independent expectations ------------------------------------------------------------
kept = {}
for r in requests:
    prev = kept.get(r["id"])
    if prev is None or r["out"] > prev["out"]:
        kept[r["id"]] = r
rows = list(kept.values())
total = sum((cost(r["model"], r["prompt"], r["read"], r["write"], r["w1h"], r["out"]) or Decimal(0))
            for r in rows)
unpriced = [r for r in rows if BASE.get(r["model"]) is None and r["source"] != "selfhosted"]
# Interactions: per interaction id where given, else per user; within each, a gap over 30
# minutes starts a new one. An interaction closes 30 minutes after its last request; those
# still open at the end of the run's last day (the horizon) are not reported yet.
HORIZON = START + timedelta(days=DAYS)
by_key = defaultdict(list)
for r in rows:
    by_key["interaction:" + r["interaction"] if r["interaction"] else r["user"]].append(r)
inter = {}
for key, rs in by_key.items():
    rs.sort(key=lambda r: (r["ts"], r["id"]))
    n, last = 0, None
    for r in rs:
        if last is None or (r["ts"] - last).total_seconds() > 1800:
            n += 1
        inter.setdefault(f"{key}#{n}", []).append(r)
        last = r["ts"]
# An interaction closes 30 minutes after its last activity ends (start + duration, where
# the log has a duration).
# Durations by (id, output tokens): a duplicated id's copies differ in both.
durations = {}
def output_tokens(rec):
    usage = rec.get("usage") or {}
    return usage.get("completion_tokens", usage.get("output_tokens"))
records = list(jobs) + list(selfhosted)
for line in openai_lines + anthropic_lines:
    try:
        records.append(json.loads(line))
    except ValueError:
        pass  # the deliberately broken lines (quarantined)
for rec in records:
    if isinstance(rec, dict) and "id" in rec:
        durations[(rec["id"], output_tokens(rec))] = rec.get("duration_ms") or 0
def activity_end(r):
    return r["ts"] + timedelta(milliseconds=durations.get((r["id"], r["out"]), 0))
open_at_horizon = [k for k, rs in inter.items()
                   if max(activity_end(r) for r in rs) + timedelta(minutes=30) >= HORIZON]
for k in open_at_horizon:
    del inter[k]
print(f"interactions still open at the horizon: {len(open_at_horizon)}")
completed = 0
for rs in inter.values():
    rs.sort(key=lambda r: (r["ts"], r["id"]))
    explicit = [r["completed"] for r in rs if r["completed"] is not None]
    ok = explicit[-1] if explicit else rs[-1]["status"] == "ok"
    completed += ok
inp = sum(r["prompt"] for r in rows)
read = sum(r["read"] for r in rows)
print(f"requests kept: {len(rows)}")
print(f"total cost of priced requests: {total.normalize()}")
print(f"unpriced requests: {len(unpriced)}")
print(f"interactions: {len(inter)}, completed: {completed}")
print(f"input tokens: {inp}, cache read tokens: {read}")
for src in ("openai", "anthropic", "litellm", "otel", "selfhosted"):
    n = sum(1 for r in rows if r["source"] == src)
    staged = sum(1 for r in requests if r["source"] == src)
    print(f"{src}: kept {n}, duplicates {staged - n}")
