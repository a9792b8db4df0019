#!/usr/bin/env python3
"""Makes the client-library conformance corpus: creates a venv (.venv-clients/ at the
project's root, outside sample-data/ so that tests copying the sample never carry it) with
the pinned versions in requirements.txt from PyPI, then runs each case of drive.py in its
own process against the fake provider on 127.0.0.1, writing corpus/<case>/: the files the
library wrote and expected.json (what a run over them must find). The corpus is checked in;
`make test` reads it and needs neither this venv nor the network.

    python3 sample-data/clients/generate.py            # every case
    python3 sample-data/clients/generate.py litellm    # one case
"""

import os
import shutil
import subprocess
import sys
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, "..", "..", ".venv-clients")
PYTHON = os.path.join(VENV, "bin", "python")
CASES = [
    "openai_chat",
    "openai_responses",
    "openai_embeddings",
    "anthropic_messages",
    "anthropic_no_time",
    "google_genai",
    "litellm",
    "otel_openai_v2",
    "openllmetry",
    "langfuse",
]


# LiteLLM fetches its price table from the network on import unless told to use the copy it
# ships: the corpus is made with the pinned version's own table, and nothing leaves the host.
ENV = {**os.environ, "TZ": "UTC", "PYTHONHASHSEED": "0", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def ensure_venv():
    stamp = os.path.join(VENV, "requirements.txt")
    wanted = open(os.path.join(HERE, "requirements.txt")).read()
    if os.path.exists(stamp) and open(stamp).read() == wanted:
        return
    print(f"creating {VENV} (pinned packages from PyPI; about a minute)", file=sys.stderr)
    venv.create(VENV, with_pip=True, clear=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "-r", os.path.join(HERE, "requirements.txt")], check=True)
    with open(stamp, "w") as f:
        f.write(wanted)


PRICES_SCRIPT = r"""
import importlib.resources, json, sys
table = json.loads(importlib.resources.files("litellm").joinpath(
    "model_prices_and_context_window_backup.json").read_text())
names = sorted(set(sys.argv[2:]))
json.dump({n: table[n] for n in names if n in table}, open(sys.argv[1], "w"), indent=2, sort_keys=True)
"""


def write_price_slice():
    """corpus/litellm_prices.json: the entries of the pinned LiteLLM's own price table for
    every model the corpus names (as the caller asked for it and as the provider answered),
    so the tests price with the same table the expected figures used."""
    import json

    names = set()
    for case in CASES:
        path = os.path.join(HERE, "corpus", case, "expected.json")
        if os.path.exists(path):
            names.update(json.load(open(path))["by_model"])
            names.update(json.load(open(path)).get("requested_models", []))
    out = os.path.join(HERE, "corpus", "litellm_prices.json")
    subprocess.run([PYTHON, "-c", PRICES_SCRIPT, out, *sorted(names)], check=True, env=ENV)
    print(f"wrote {os.path.relpath(out)}")


def main():
    cases = sys.argv[1:] or CASES
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; cases: {', '.join(CASES)}")
    ensure_venv()
    env = ENV
    for case in cases:
        out = os.path.join(HERE, "corpus", case)
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([PYTHON, "-W", "ignore", os.path.join(HERE, "drive.py"), case, out], check=True, env=env,
                       cwd=HERE)
        print(f"wrote {os.path.relpath(out)}: {', '.join(sorted(os.listdir(out)))}")
    write_price_slice()


if __name__ == "__main__":
    main()
