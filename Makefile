# inferledger: `make help` lists the targets.
CARGO ?= cargo
OUT ?= out
CONFIG ?= sample-data/inferledger.toml
BENCH_SIZES ?= 1000000 3000000
BENCH_DIR ?= bench-data
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: help run test check fmt clippy bench bench-cluster build clean sample-data client-corpus report-shot

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## Build the release binary
	$(CARGO) build --release --locked

run: build ## Run the nightly job on sample-data/ (writes out/)
	$(TARGET_DIR)/release/inferledger run --config $(CONFIG) --out $(OUT)
	@echo "tables, run_summary.json and report.md are in $(OUT)/"

test: ## Run every test (debug profile)
	$(CARGO) test --locked --all-targets --features test-hooks

check: fmt clippy ## cargo fmt --check and clippy with warnings denied
fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

clippy: ## Lint, warnings denied
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --features test-hooks -- -D warnings

bench: build ## inferledger vs DuckDB on the same work: 1M and 3M synthetic requests (BENCH_SIZES), then the realistic mix (bench/mix.py; BENCH_MIX=0 skips it), each BENCH_REPEAT times in turn (default 3); prints median times, peak memory and the ratios
	test -x $(BENCH_DIR)/venv/bin/python || python3 -m venv $(BENCH_DIR)/venv
	$(BENCH_DIR)/venv/bin/python -c 'import duckdb' 2>/dev/null || $(BENCH_DIR)/venv/bin/pip install -q 'duckdb==2.0.1'
	$(BENCH_DIR)/venv/bin/python bench/compare.py $(TARGET_DIR)/release/inferledger $(BENCH_DIR) $(BENCH_SIZES)

bench-cluster: build ## sql in-process vs on a local Ballista cluster of 1 and 2 executors, over the 1M bench run (make bench first)
	$(BENCH_DIR)/venv/bin/python bench/cluster.py $(TARGET_DIR)/release/inferledger $(BENCH_DIR)/1000000/out

report-shot: run ## Render out/report.html to out/report.png in headless Chromium (installs Debian's chromium if missing)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir=$$(mktemp -d) --hide-scrollbars \
		--window-size=1100,3400 --screenshot=$(CURDIR)/$(OUT)/report.png file://$(CURDIR)/$(OUT)/report.html
	@echo "wrote $(OUT)/report.png"

sample-data: ## Regenerate the synthetic sample logs (and print the figures they should give)
	python3 sample-data/generate.py

client-corpus: ## Regenerate sample-data/clients/corpus/ with the real client libraries (pinned, from PyPI, in a venv) against a fake provider on 127.0.0.1
	python3 sample-data/clients/generate.py

clean: ## Remove build output and run output
	$(CARGO) clean
	rm -rf $(OUT) $(BENCH_DIR)
