"""Drives one real client library against the fake provider (fake_provider.py) and writes
what the library writes: `python drive.py CASE OUT_DIR`, run inside the corpus venv by
generate.py, one process per case (so two OpenTelemetry instrumentations never wrap the
same client). Besides the library's files, each case writes `expected.json`: the requests,
tokens and cost per model, team and day, worked out here from the usage the fake server
answered and LiteLLM's price table of the pinned version (by hand: tokens × the entry's
per-token price, tier and cache keys included), or, for LiteLLM's own rows, LiteLLM's
`response_cost`.
"""

import clock

clock.install()  # before any library reads the time

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from decimal import Decimal  # noqa: E402

import fake_provider  # noqa: E402

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "")

START = "2026-11-16T22:30:00Z"  # the first case's sessions run across midnight


def price_table():
    import importlib.resources

    text = importlib.resources.files("litellm").joinpath("model_prices_and_context_window_backup.json").read_text()
    return json.loads(text)


PRICES = None
REQUESTED = set()  # the models priced by hand, as the caller named them


def hand_price(model, u, tier=None, embedding=False):
    """The cost of one request by hand from LiteLLM's price table: uncached input, cache
    reads, 5-minute and 1-hour cache writes and output, each at its own per-token key, the
    tier's keys (`…_priority`, `…_flex`) when a tier was used."""
    global PRICES
    REQUESTED.add(model)
    if PRICES is None:
        PRICES = price_table()
    entry = PRICES[model]

    def price(key):
        if tier and f"{key}_{tier}" in entry:
            return Decimal(str(entry[f"{key}_{tier}"]))
        return Decimal(str(entry.get(key, 0)))

    cached = u.get("cached", 0)
    write_5m, write_1h = u.get("write_5m", 0), u.get("write_1h", 0)
    # Anthropic counts its input beside the cache; the others count the cache inside it.
    uncached = u["prompt"] if u.get("beside") else u["prompt"] - cached - write_5m - write_1h
    cost = uncached * price("input_cost_per_token")
    cost += cached * price("cache_read_input_token_cost")
    cost += write_5m * price("cache_creation_input_token_cost")
    cost += write_1h * price("cache_creation_input_token_cost_above_1hr")
    output = 0 if embedding else u["completion"] + u.get("thoughts", 0)
    cost += output * price("output_cost_per_token")
    return cost


class Expected:
    """What a run over the case's files must find, summed per model, team and day."""

    def __init__(self):
        self.by_model = defaultdict(lambda: defaultdict(int))
        self.by_team = defaultdict(int)
        self.by_day = defaultdict(int)
        self.requests = 0

    def add(self, day, model, team, input_tokens, cache_read, cache_write, output, reasoning, cost):
        m = self.by_model[model]
        m["requests"] += 1
        m["input_tokens"] += input_tokens
        m["cache_read_tokens"] += cache_read
        m["cache_write_tokens"] += cache_write
        m["output_tokens"] += output
        m["reasoning_tokens"] += reasoning
        m["cost_usd"] = m.get("cost_usd", Decimal(0)) + Decimal(cost)
        self.by_team[team] += 1
        self.by_day[day] += 1
        self.requests += 1

    def write(self, out, **extra):
        def plain(v):
            return str(v) if isinstance(v, Decimal) else v

        data = {
            "requests": self.requests,
            "by_model": {k: {f: plain(v) for f, v in m.items()} for k, m in sorted(self.by_model.items())},
            "requests_by_team": dict(sorted(self.by_team.items())),
            "requests_by_day": dict(sorted(self.by_day.items())),
            "requested_models": sorted(REQUESTED),
            **extra,
        }
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")


def day_of(epoch_seconds):
    import datetime

    return datetime.datetime.fromtimestamp(epoch_seconds, datetime.timezone.utc).strftime("%Y-%m-%d")


def prompt(u):
    return f"Summarise the ticket.\nusage: {json.dumps(u, sort_keys=True)}"


# The traffic every OpenAI case sends: (model, tier, usage, team, feature, think time before).
OPENAI_CALLS = [
    ("gpt-4o", None, {"prompt": 1200, "completion": 150, "cached": 0}, "support", "triage", 0),
    ("gpt-4o", None, {"prompt": 1260, "completion": 170, "cached": 1024}, "support", "triage", 40),
    ("gpt-4o", "priority", {"prompt": 2048, "completion": 300, "cached": 1536}, "search", "answer", 3600),
    ("gpt-4o-mini", None, {"prompt": 800, "completion": 90, "cached": 0}, "search", "answer", 30),
    ("o4-mini", "flex", {"prompt": 3000, "completion": 900, "cached": 0, "reasoning": 640}, "research", "agent", 1800),
    ("o4-mini", None, {"prompt": 3100, "completion": 700, "cached": 2048, "reasoning": 512}, "research", "agent", 60),
]


def openai_client(base):
    import openai

    return openai.OpenAI(api_key="sk-fake", base_url=f"{base}/v1", max_retries=0)


def case_openai(out, base, api):
    """openai SDK: Chat Completions (`api="chat"`) or the Responses API, each response
    logged as `model_dump()` with the caller's attribution under `metadata`."""
    client = openai_client(base)
    expected = Expected()
    name = "chat_completions.jsonl" if api == "chat" else "responses.jsonl"
    with open(os.path.join(out, name), "w") as log:
        for model, tier, u, team, feature, wait in OPENAI_CALLS:
            clock.advance(wait)
            extra = {"service_tier": tier} if tier else {}
            if api == "chat":
                resp = client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": prompt(u)}], **extra
                )
                created = resp.created
            else:
                resp = client.responses.create(model=model, input=prompt(u), **extra)
                created = resp.created_at
            record = resp.model_dump(mode="json")
            record["metadata"] = {"team": team, "feature": feature}
            log.write(json.dumps(record) + "\n")
            expected.add(day_of(created), resp.model, team, u["prompt"], u["cached"], 0, u["completion"],
                         u.get("reasoning", 0), hand_price(model, u, tier))
    expected.write(out, format="openai")


EMBEDDING_CALLS = [({"prompt": 512}, "search", "index", 0), ({"prompt": 2048}, "search", "index", 20)]


def case_openai_embeddings(out, base):
    """openai SDK: embeddings. The response has no id and no time: the caller's log line
    adds `timestamp` and `metadata` to `model_dump()`."""
    client = openai_client(base)
    expected = Expected()
    with open(os.path.join(out, "embeddings.jsonl"), "w") as log:
        for u, team, feature, wait in EMBEDDING_CALLS:
            clock.advance(wait)
            logged_at = clock.now_rfc3339()
            resp = client.embeddings.create(model="text-embedding-3-small", input=[prompt(u)])
            record = {"timestamp": logged_at, **resp.model_dump(mode="json")}
            record["data"] = [{**d, "embedding": "…"} for d in record["data"]]  # keep the file small
            record["metadata"] = {"team": team, "feature": feature}
            log.write(json.dumps(record) + "\n")
            expected.add(logged_at[:10], resp.model, team, u["prompt"], 0, 0, 0, 0,
                         hand_price("text-embedding-3-small", {**u, "completion": 0}, embedding=True))
    expected.write(out, format="openai")


ANTHROPIC_CALLS = [
    ("claude-sonnet-4-5", {"prompt": 40, "completion": 300, "write_5m": 4000}, "legal", "review", 0),
    ("claude-sonnet-4-5", {"prompt": 60, "completion": 280, "cached": 4000}, "legal", "review", 45),
    ("claude-haiku-4-5", {"prompt": 30, "completion": 120, "write_1h": 6000}, "support", "classify", 600),
    ("claude-haiku-4-5", {"prompt": 25, "completion": 110, "cached": 6000}, "support", "classify", 1800),
    ("claude-haiku-4-5", {"prompt": 20, "completion": 90, "write_5m": 1000, "write_1h": 2000}, "support",
     "classify", 60),
]


def case_anthropic(out, base, with_time=True):
    """anthropic SDK: Messages, logged as `model_dump()`; a Message carries no time, so the
    caller's log line adds `timestamp` (the `_no_time` case logs the dump as it is)."""
    import anthropic

    client = anthropic.Anthropic(api_key="sk-ant-fake", base_url=base, max_retries=0)
    expected = Expected()
    name = "messages.jsonl" if with_time else "messages_as_dumped.jsonl"
    with open(os.path.join(out, name), "w") as log:
        for model, u, team, feature, wait in ANTHROPIC_CALLS:
            clock.advance(wait)
            logged_at = clock.now_rfc3339()
            msg = client.messages.create(
                model=model, max_tokens=1024, messages=[{"role": "user", "content": prompt(u)}]
            )
            record = msg.model_dump(mode="json")
            if with_time:
                record = {"timestamp": logged_at, **record, "metadata": {"team": team, "feature": feature}}
            log.write(json.dumps(record) + "\n")
            writes = u.get("write_5m", 0) + u.get("write_1h", 0)
            all_prompt = u["prompt"] + u.get("cached", 0) + writes
            expected.add(logged_at[:10], msg.model, team, all_prompt, u.get("cached", 0), writes, u["completion"], 0,
                         hand_price(model, {**u, "beside": True}))
    expected.write(out, format="anthropic")


GEMINI_CALLS = [
    ("gemini-2.5-flash", {"prompt": 1500, "completion": 200, "cached": 0, "reasoning": 300}, "growth", "copy", 0),
    ("gemini-2.5-flash", {"prompt": 1700, "completion": 220, "cached": 1024, "reasoning": 0}, "growth", "copy", 90),
    ("gemini-2.5-pro", {"prompt": 5000, "completion": 800, "cached": 0, "reasoning": 1200}, "research", "plan", 7200),
]


def case_google_genai(out, base):
    """google-genai: generate_content, logged as `model_dump_json()` (snake_case) plus the
    caller's attribution."""
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="fake", http_options=types.HttpOptions(base_url=base))
    expected = Expected()
    with open(os.path.join(out, "generate_content.jsonl"), "w") as log:
        for model, u, team, feature, wait in GEMINI_CALLS:
            clock.advance(wait)
            logged_at = clock.now_rfc3339()
            resp = client.models.generate_content(model=model, contents=prompt(u))
            # The Gemini API fills no `create_time` (Vertex AI does): the caller adds a time.
            record = {"timestamp": logged_at, **json.loads(resp.model_dump_json())}
            record["metadata"] = {"team": team, "feature": feature}
            log.write(json.dumps(record) + "\n")
            thoughts = u.get("reasoning", 0)
            expected.add(logged_at[:10], resp.model_version, team, u["prompt"], u["cached"], 0, u["completion"] + thoughts,
                         thoughts, hand_price(model, {**u, "thoughts": thoughts}))
    expected.write(out, format="gemini")


# LiteLLM's traffic: (model as the caller names it, usage, team, feature, think time, kind).
LITELLM_CALLS = [
    ("openai/gpt-4o", {"prompt": 1200, "completion": 150, "cached": 1024}, "support", "triage", 0, "chat"),
    ("openai/gpt-4o", {"prompt": 1200, "completion": 150, "cached": 1024}, "support", "triage", 30, "chat"),
    ("openai/o4-mini", {"prompt": 2000, "completion": 600, "reasoning": 384}, "research", "agent", 600, "chat"),
    ("anthropic/claude-sonnet-4-5", {"prompt": 50, "completion": 250, "write_5m": 3000}, "legal", "review", 60,
     "chat"),
    ("anthropic/claude-haiku-4-5", {"prompt": 40, "completion": 100, "write_1h": 5000}, "support", "classify",
     3600, "chat"),
    ("anthropic/claude-haiku-4-5", {"prompt": 30, "completion": 90, "cached": 5000}, "support", "classify", 120,
     "chat"),
    ("openai/text-embedding-3-small", {"prompt": 700}, "search", "index", 300, "embedding"),
]


def litellm_stub_proxy_server():
    """`litellm[proxy]` does not install (it pins a wheel that is not published), so the
    proxy's settings module is stood in for by one with empty settings: the spend-log code
    reads only `general_settings` and `general_settings_view()` from it."""
    import types

    stub = types.ModuleType("litellm.proxy.proxy_server")
    stub.general_settings = {}
    stub.general_settings_view = lambda: {}
    sys.modules["litellm.proxy.proxy_server"] = stub


def case_litellm(out, base):
    """LiteLLM as a library with a custom logger: each success event's
    `standard_logging_object` (what LiteLLM's S3/GCS/custom loggers receive) and the
    `LiteLLM_SpendLogs` row its proxy would store, built by LiteLLM's own
    `get_logging_payload`, written as JSON lines and as a CSV table export. The second
    gpt-4o call is answered by LiteLLM's own cache. The metadata keys the proxy's key
    authentication adds (`user_api_key_team_alias`, `user_api_key_team_id`) and a
    `feature:` tag are passed as the proxy would pass them."""
    import csv

    import litellm
    from litellm.caching.caching import Cache
    from litellm.integrations.custom_logger import CustomLogger

    litellm_stub_proxy_server()
    from litellm.proxy.spend_tracking.spend_tracking_utils import get_logging_payload

    payloads, spend_rows = [], []

    class Recorder(CustomLogger):
        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            payloads.append(json.loads(json.dumps(kwargs["standard_logging_object"], default=str)))
            spend_rows.append(get_logging_payload(kwargs, response_obj, start_time, end_time))

    litellm.callbacks = [Recorder()]
    litellm.cache = Cache(type="local")
    expected = Expected()
    for model, u, team, feature, wait, kind in LITELLM_CALLS:
        clock.advance(wait)
        metadata = {
            "user_api_key_team_alias": team,
            "user_api_key_team_id": f"team-{team}-0001",
            "tags": [f"feature:{feature}"],
        }
        provider = model.split("/")[0]
        api_base = f"{base}/v1" if provider == "openai" else base
        if kind == "embedding":
            litellm.embedding(model=model, input=[prompt(u)], api_base=api_base, api_key="sk-fake",
                              metadata=metadata)
        else:
            litellm.completion(model=model, messages=[{"role": "user", "content": prompt(u)}], api_base=api_base,
                               api_key="sk-fake", metadata=metadata, max_tokens=1024, caching=True)
    import time

    time.sleep(0.5)  # LiteLLM logs success from a thread
    with open(os.path.join(out, "standard_logging_payload.jsonl"), "w") as f:
        for p in payloads:
            f.write(json.dumps(p) + "\n")
    rows = [json.loads(json.dumps(r, default=str)) for r in spend_rows]
    with open(os.path.join(out, "spend_logs.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    # A table export (psql \copy … csv header, or a BI tool): the JSON columns as text.
    columns = list(rows[0].keys())
    with open(os.path.join(out, "spend_logs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([json.dumps(r[c]) if isinstance(r.get(c), (dict, list)) else r.get(c) for c in columns])
    for p in payloads:
        usage = p["metadata"].get("usage_object") or {}
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens") or 0
        writes = usage.get("cache_creation_input_tokens") or 0
        reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
        team = p["metadata"]["user_api_key_team_alias"]
        # A row LiteLLM's cache answered names the model as the caller did (`openai/gpt-4o`):
        # it is the same model as the provider's rows.
        model = p["model"].split("/", 1)[-1] if p["cache_hit"] else p["model"]
        expected.add(day_of(p["startTime"]), model, team, p["prompt_tokens"], cached, writes,
                     p["completion_tokens"], reasoning, Decimal(str(p["response_cost"])))
    expected.write(out, format="litellm", cost_source="LiteLLM's response_cost")


def otel_case(out, base, instrumentor, console_name, otlp_name, calls, lost=()):
    """An OpenTelemetry instrumentation of the openai SDK with the SDK's console exporter
    (pretty-printed JSON objects, one after another) and the OTLP/JSON file exporter
    (`opentelemetry-exporter-otlp-json-file`: one `{"resourceSpans": …}` batch per line, as
    the Collector's file exporter writes). The caller's team and feature are put on each
    span by a span processor (what users do with baggage); `service.name` is a resource
    attribute. `lost` names the usage fields the instrumentation does not record: the
    expected figures leave them out (the instrumentation's loss, not ours)."""
    import random

    random.seed(27)  # span and trace ids
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    attribution = {}

    class Attribution(SpanProcessor):
        def on_start(self, span, parent_context=None):
            for key, value in attribution.items():
                span.set_attribute(key, value)

    provider = TracerProvider(resource=Resource.create({"service.name": "ticket-bot", "deployment.environment": "prod"}))
    provider.add_span_processor(Attribution())
    console = open(os.path.join(out, console_name), "w")
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=console)))
    provider.add_span_processor(
        BatchSpanProcessor(FileSpanExporter(os.path.join(out, otlp_name)), max_export_batch_size=4, schedule_delay_millis=60_000)
    )
    trace.set_tracer_provider(provider)
    instrumentor().instrument(tracer_provider=provider)
    client = openai_client(base)
    expected = Expected()
    for model, tier, u, team, feature, wait, kind in calls:
        clock.advance(wait)
        attribution.update({"app.team": team, "app.feature": feature})
        extra = {"service_tier": tier} if tier else {}
        if kind == "embedding":
            resp = client.embeddings.create(model=model, input=[prompt(u)])
            served, day = resp.model, clock.now_rfc3339()[:10]
        elif kind == "responses":
            resp = client.responses.create(model=model, input=prompt(u), **extra)
            served, day = resp.model, day_of(resp.created_at)
        else:
            resp = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt(u)}], **extra)
            served, day = resp.model, day_of(resp.created)
        seen = {k: v for k, v in u.items() if k not in lost}
        seen.setdefault("cached", 0)
        if kind == "embedding":
            seen["completion"] = 0
        expected.add(day, served, team, u["prompt"], seen["cached"], 0, seen["completion"], seen.get("reasoning", 0),
                     hand_price(model, seen, tier if "tier" not in lost else None, embedding=kind == "embedding"))
    provider.shutdown()
    console.close()
    expected.write(out, format="otel", lost=sorted(lost))


OTEL_CALLS = [
    (model, tier, u, team, feature, wait, "chat") for model, tier, u, team, feature, wait in OPENAI_CALLS
] + [
    ("o4-mini", "flex", {"prompt": 1500, "completion": 400, "cached": 1024, "reasoning": 256}, "research", "agent", 40,
     "responses"),
    ("text-embedding-3-small", None, {"prompt": 900}, "search", "index", 20, "embedding"),
]


def case_otel_openai_v2(out, base):
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    otel_case(out, base, OpenAIInstrumentor, "console_spans.json", "otlp_spans.jsonl",
              [c for c in OTEL_CALLS if c[6] != "responses"], lost=("cached", "reasoning"))


def case_openllmetry(out, base):
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    otel_case(out, base, OpenAIInstrumentor, "console_spans.json", "otlp_spans.jsonl", OTEL_CALLS)


# Langfuse's ClickHouse `observations` table: 0002_observations.up.sql with the columns later
# migrations added (environment 0008, usage_pricing_tier_* 0031, tool_* 0033), in
# langfuse/langfuse packages/shared/clickhouse/migrations/unclustered/.
LANGFUSE_OBSERVATIONS_DDL = """CREATE TABLE observations (
    id String, trace_id String, project_id String,
    environment LowCardinality(String) DEFAULT 'default', type LowCardinality(String),
    parent_observation_id Nullable(String), start_time DateTime64(3), end_time Nullable(DateTime64(3)),
    name String, metadata Map(LowCardinality(String), String), level LowCardinality(String),
    status_message Nullable(String), version Nullable(String), input Nullable(String),
    output Nullable(String), provided_model_name Nullable(String), internal_model_id Nullable(String),
    model_parameters Nullable(String), provided_usage_details Map(LowCardinality(String), UInt64),
    usage_details Map(LowCardinality(String), UInt64),
    provided_cost_details Map(LowCardinality(String), Decimal64(12)),
    cost_details Map(LowCardinality(String), Decimal64(12)), total_cost Nullable(Decimal64(12)),
    usage_pricing_tier_id Nullable(String), usage_pricing_tier_name Nullable(String),
    completion_start_time Nullable(DateTime64(3)), prompt_id Nullable(String),
    prompt_name Nullable(String), prompt_version Nullable(UInt16),
    created_at DateTime64(3) DEFAULT now(), updated_at DateTime64(3) DEFAULT now(),
    event_ts DateTime64(3), is_deleted UInt8,
    tool_definitions Map(String, String) DEFAULT map(), tool_calls Array(String) DEFAULT [],
    tool_call_names Array(String) DEFAULT []
) ENGINE = ReplacingMergeTree(event_ts, is_deleted) ORDER BY (project_id, type, toDate(start_time), id)"""

# Langfuse's blob-storage export of observations, as its worker runs it
# (packages/shared/src/server/repositories/observations.ts,
# buildObservationsForBlobStorageExportQuery over LEGACY_OBSERVATION_EXPORT_FIELDS, with
# FORMAT Parquet as getObservationsForBlobStorageExportParquet adds).
LANGFUSE_EXPORT_SQL = """SELECT id, trace_id, project_id, environment, type, parent_observation_id,
    start_time, end_time, name, metadata, level, status_message, version, input, output,
    provided_model_name, model_parameters, usage_details, cost_details, completion_start_time,
    prompt_name, prompt_version, total_cost,
    if(isNull(end_time), NULL, date_diff('millisecond', start_time, end_time) / 1000) as latency,
    if(isNull(completion_start_time), NULL, date_diff('millisecond', start_time, completion_start_time) / 1000) as time_to_first_token,
    internal_model_id as model_id, created_at, updated_at, prompt_id, tool_calls, tool_call_names,
    tool_definitions, usage_pricing_tier_name
FROM observations
WHERE project_id = 'proj-1'
ORDER BY event_ts DESC
LIMIT 1 BY id, project_id, type
FORMAT Parquet"""


def case_langfuse(out, base):
    """Langfuse's observations export to blob storage, Parquet (its default since mid-2026):
    the openai SDK's calls (the real responses of OPENAI_CALLS) stored as Langfuse stores a
    generation, usage_details split into buckets that do not overlap (Langfuse's documented
    contract: `input` excludes `input_cached_tokens`, `output` excludes
    `output_reasoning_tokens`, `total` is their sum) and its cost per bucket, each under a
    trace whose root is a SPAN, with an EVENT beside it; written by ClickHouse (chdb) with
    Langfuse's own table and export query. Spans and events carry no usage: they are not
    requests."""
    from chdb import session

    client = openai_client(base)
    expected = Expected()
    db = session.Session()
    db.query(LANGFUSE_OBSERVATIONS_DDL)
    rows = []

    def ts(epoch):
        import datetime

        return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    def quote(text):
        return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"

    def ch_map(pairs, value=quote):
        return "map(" + ", ".join(f"{quote(k)}, {value(v)}" for k, v in pairs.items()) + ")" if pairs else "map()"

    for n, (model, tier, u, team, feature, wait) in enumerate(OPENAI_CALLS):
        clock.advance(wait)
        start = clock._read_ns() / 1e9
        extra = {"service_tier": tier} if tier else {}
        resp = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt(u)}], **extra)
        end = clock._read_ns() / 1e9
        usage = resp.usage
        cached = usage.prompt_tokens_details.cached_tokens or 0
        reasoning = usage.completion_tokens_details.reasoning_tokens or 0
        buckets = {"input": usage.prompt_tokens - cached, "output": usage.completion_tokens - reasoning,
                   "total": usage.total_tokens}
        if cached:
            buckets["input_cached_tokens"] = cached
        if reasoning:
            buckets["output_reasoning_tokens"] = reasoning
        cost = hand_price(model, u, tier)
        trace = f"trace-{n:03d}"
        metadata = {"team": team, "feature": feature}
        # Langfuse's OpenAI integration records a requested service tier among the model
        # parameters (langfuse/openai.py: modelParameters["service_tier"]).
        parameters = quote(json.dumps({"service_tier": tier})) if tier else "NULL"
        rows.append(f"('span-{n:03d}', '{trace}', 'proj-1', 'SPAN', NULL, '{ts(start - 0.5)}', '{ts(end + 0.5)}', "
                    f"'handle-ticket', {ch_map(metadata)}, 'DEFAULT', NULL, NULL, NULL, map(), map(), NULL, now64(3), 0)")
        rows.append(f"('event-{n:03d}', '{trace}', 'proj-1', 'EVENT', 'span-{n:03d}', '{ts(start - 0.25)}', NULL, "
                    f"'retrieved-context', {ch_map(metadata)}, 'DEFAULT', NULL, NULL, NULL, map(), map(), NULL, now64(3), 0)")
        rows.append(f"('{resp.id}', '{trace}', 'proj-1', 'GENERATION', 'span-{n:03d}', '{ts(start)}', '{ts(end)}', "
                    f"'OpenAI-generation', {ch_map(metadata)}, 'DEFAULT', NULL, {quote(resp.model)}, {parameters}, "
                    f"{ch_map(buckets, lambda v: f'toUInt64({v})')}, "
                    f"map('total', toDecimal64({quote(cost)}, 12)), toDecimal64({quote(cost)}, 12), now64(3), 0)")
        expected.add(day_of(start), resp.model, team, usage.prompt_tokens, cached, 0, usage.completion_tokens,
                     reasoning, cost)
    db.query("INSERT INTO observations (id, trace_id, project_id, type, parent_observation_id, start_time, end_time, "
             "name, metadata, level, status_message, provided_model_name, model_parameters, usage_details, cost_details, "
             "total_cost, "
             "event_ts, is_deleted) VALUES " + ", ".join(rows))
    with open(os.path.join(out, "observations.parquet"), "wb") as f:
        f.write(db.query(LANGFUSE_EXPORT_SQL).bytes())
    expected.write(out, format="langfuse", not_requests=2 * len(OPENAI_CALLS),
                   cost_source="hand-priced; Langfuse's total_cost holds the same figure")


def main():
    case, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    clock.set_utc(START)
    server, base = fake_provider.start()
    try:
        CASES[case](out, base)
    finally:
        server.shutdown()


CASES = {
    "openai_chat": lambda out, base: case_openai(out, base, "chat"),
    "openai_responses": lambda out, base: case_openai(out, base, "responses"),
    "openai_embeddings": case_openai_embeddings,
    "anthropic_messages": case_anthropic,
    "anthropic_no_time": lambda out, base: case_anthropic(out, base, with_time=False),
    "google_genai": case_google_genai,
    "litellm": case_litellm,
    "otel_openai_v2": case_otel_openai_v2,
    "openllmetry": case_openllmetry,
    "langfuse": case_langfuse,
}

if __name__ == "__main__":
    main()
