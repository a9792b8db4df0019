"""A small fake of the OpenAI, Anthropic and Gemini HTTP APIs on 127.0.0.1, for the
conformance corpus (generate.py). Only these responses are ours: every log line, span and
LiteLLM row in the corpus is written by the real client libraries from them.

Token counts come from the request itself (`metadata`/headers are not read): the prompt's
last user message ends with a line `usage: {...}` naming the counts the answer reports, so a
driver decides them and the server stays dumb. Times come from the shared fake clock
(clock.py), so the corpus is the same on every run.
"""

import base64
import json
import re
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import clock

USAGE_LINE = re.compile(r"usage:\s*(\{.*\})\s*$", re.S)

# What each provider answers as the model that served a request.
OPENAI_SNAPSHOTS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
}
ANTHROPIC_SNAPSHOTS = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}


def usage_of(text):
    """The `usage: {...}` line at the end of a prompt."""
    match = USAGE_LINE.search(text or "")
    if not match:
        raise ValueError(f"prompt without a usage line: {text!r}")
    return json.loads(match.group(1))


def last_text(messages):
    """The text of the last message of a chat request (string or content parts)."""
    content = messages[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0

    def next(self):
        with self.lock:
            self.n += 1
            return self.n


COUNTER = Counter()


def openai_chat(body):
    u = usage_of(last_text(body["messages"]))
    n = COUNTER.next()
    prompt, completion = u["prompt"], u["completion"]
    answer = {
        "id": f"chatcmpl-fake{n:04d}",
        "object": "chat.completion",
        "created": clock.now_s(),
        "model": OPENAI_SNAPSHOTS.get(body["model"], body["model"]),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok", "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": u.get("cached", 0), "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": u.get("reasoning", 0),
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": body.get("service_tier") or "default",
        "system_fingerprint": "fp_fake",
    }
    if answer["service_tier"] == "auto":
        answer["service_tier"] = "default"
    return answer


def openai_responses(body):
    text = body["input"] if isinstance(body["input"], str) else last_text(body["input"])
    u = usage_of(text)
    n = COUNTER.next()
    created = clock.now_s()
    return {
        "id": f"resp_fake{n:04d}",
        "object": "response",
        "created_at": created,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": OPENAI_SNAPSHOTS.get(body["model"], body["model"]),
        "output": [
            {
                "type": "message",
                "id": f"msg_fake{n:04d}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "service_tier": body.get("service_tier") or "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": u["prompt"],
            "input_tokens_details": {"cached_tokens": u.get("cached", 0)},
            "output_tokens": u["completion"],
            "output_tokens_details": {"reasoning_tokens": u.get("reasoning", 0)},
            "total_tokens": u["prompt"] + u["completion"],
        },
        "user": None,
        "metadata": {},
    }


def openai_embeddings(body):
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    u = usage_of(inputs[-1])
    vector = [0.25, -0.5, 0.125]
    if body.get("encoding_format") == "base64":
        item = base64.b64encode(struct.pack("<3f", *vector)).decode()
    else:
        item = vector
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": item} for i in range(len(inputs))],
        "model": body["model"],
        "usage": {"prompt_tokens": u["prompt"], "total_tokens": u["prompt"]},
    }


def anthropic_messages(body):
    u = usage_of(last_text(body["messages"]))
    n = COUNTER.next()
    write_5m, write_1h = u.get("write_5m", 0), u.get("write_1h", 0)
    return {
        "id": f"msg_fake{n:04d}",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_SNAPSHOTS.get(body["model"], body["model"]),
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": u["prompt"],
            "cache_creation_input_tokens": write_5m + write_1h,
            "cache_read_input_tokens": u.get("cached", 0),
            "cache_creation": {
                "ephemeral_5m_input_tokens": write_5m,
                "ephemeral_1h_input_tokens": write_1h,
            },
            "output_tokens": u["completion"],
            "service_tier": "standard",
        },
    }


def gemini_generate(model, body):
    text = "".join(p.get("text", "") for p in body["contents"][-1]["parts"])
    u = usage_of(text)
    n = COUNTER.next()
    prompt, completion, thoughts = u["prompt"], u["completion"], u.get("reasoning", 0)
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if u.get("cached"):
        usage["cachedContentTokenCount"] = u["cached"]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return {
        "candidates": [
            {"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "createTime": clock.now_rfc3339(),
        "responseId": f"gfake{n:04d}",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?")[0]
        clock.advance(seconds=2)  # the provider's latency
        try:
            if path.endswith("/chat/completions"):
                answer = openai_chat(body)
            elif path.endswith("/responses"):
                answer = openai_responses(body)
            elif path.endswith("/embeddings"):
                answer = openai_embeddings(body)
            elif path.endswith("/messages"):
                answer = anthropic_messages(body)
            elif ":generateContent" in path:
                model = path.rsplit("/", 1)[-1].split(":")[0]
                answer = gemini_generate(model, body)
            else:
                self.send_error(404, f"no such endpoint {path}")
                return
        except (KeyError, ValueError) as e:
            self.send_error(400, str(e))
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def start():
    """Starts the server on a free port of 127.0.0.1; returns (server, base URL)."""
    # A fixed port when free, so the URLs LiteLLM and OpenLLMetry record are the same on every run.
    try:
        server = ThreadingHTTPServer(("127.0.0.1", 47123), Handler)
    except OSError:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
