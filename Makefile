# trailalerts — developer entry points. `make demo` and `make test` work on a fresh machine:
# they need a Rust toolchain and Python 3.9+, and install everything else from the registries.
SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
BIN := target/release/trailalerts
VENV := .venv
VPY := $(VENV)/bin/python
WHEEL_VENV := target/wheel-venv

.PHONY: bench-watch test-deps bench-peers demo test test-rust test-python test-node fuzz fuzz-smoke lint build bench bench-python bench-node clean check-tools venv

check-tools:
	@command -v $(CARGO) >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "python3 is required"; exit 1; }
	@command -v npm >/dev/null || { echo "node and npm are required"; exit 1; }

build: check-tools
	$(CARGO) build --release -p trailalerts-cli

## Scan the bundled sample CloudTrail logs with the built-in alerts and print a table.
demo: build
	@echo "== trailalerts scan core/cli/samples (built-in catalog) =="
	./$(BIN) scan core/cli/samples

## Every test in the repository.
test: check-tools test-rust lint test-python test-node fuzz-smoke

## Real receivers the notification tests start: moto_server, aiosmtpd (PyPI, into .venv),
## rsyslogd (Debian package rsyslog) and openssl for test certificates.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)
test-deps: $(VENV)/.test-deps
	@command -v rsyslogd >/dev/null || [ -x /usr/sbin/rsyslogd ] || { \
		echo "installing rsyslog (Debian package) for the syslog tests"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsyslog >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsyslog; }; }
	@command -v openssl >/dev/null || { $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl; }; }

$(VENV)/.test-deps: $(VPY)
	$(VPY) -m pip install -q "moto[server]>=5.1,<6" "aiosmtpd>=1.4,<2" boto3
	touch $@

test-rust: test-deps
	TRAILALERTS_TEST_PYTHON=$(abspath $(VPY)) $(CARGO) test --workspace --all-targets --exclude trailalerts-python --exclude trailalerts-node
	$(CARGO) test --workspace --doc --exclude trailalerts-python --exclude trailalerts-node

lint:
	@if $(CARGO) clippy --version >/dev/null 2>&1; then \
		$(CARGO) clippy --workspace --all-targets -- -D warnings; \
	else echo "clippy not installed; skipping lint"; fi

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "maturin>=1.16,<2" pytest mypy

venv: $(VPY)

## Python package: build an abi3 wheel, install it into a clean venv, run pytest against it.
test-python: $(VPY)
	rm -rf target/wheels-py $(WHEEL_VENV)
	$(VENV)/bin/maturin build --release -q -m bindings-python/Cargo.toml -o target/wheels-py
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q target/wheels-py/trailalerts-*.whl pytest mypy
	cd bindings-python && ../$(WHEEL_VENV)/bin/python -m pytest -q tests
	# `pip install ./bindings-python` (a source build through pip) works too.
	rm -rf target/src-venv && $(PYTHON) -m venv target/src-venv
	target/src-venv/bin/python -m pip install -q --no-cache-dir ./bindings-python
	target/src-venv/bin/python -c 'import trailalerts; r = trailalerts.Engine().evaluate({"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "eventID": "e1"}); assert [x.alert_id for x in r] == ["cis-4.5-cloudtrail-changes"], r; print("pip install ./bindings-python: ok")'

## Node package: install the CLI from npm, build the addon and index.d.ts, run node --test.
test-node:
	cd bindings-node && npm ci --no-audit --no-fund && npm run build && npm test

## Fuzz every target for a minute (cargo-fuzz, nightly; skipped where nightly is missing).
fuzz:
	tests/fuzz/run.sh 60

## A short run of each fuzz target (part of `make test`).
fuzz-smoke:
	tests/fuzz/run.sh 10

## `watch` through a local moto_server (S3 + SQS), end to end, vs `scan` of the same files.
bench-watch: build $(VENV)/.test-deps
	rm -rf target/bench-watch-logs
	$(CARGO) run -q --release -p trailalerts-benches --example gen_logs -- target/bench-watch-logs 40 2000
	$(VPY) benches/watch_moto.py target/bench-watch-logs ./$(BIN)

## Criterion benchmarks (see benches/README.md).
bench:
	$(CARGO) bench -p trailalerts-benches

## Python binding vs plain Python rules on 100k generated events.
bench-python: $(VPY)
	$(VENV)/bin/maturin develop --release -q -m bindings-python/Cargo.toml
	$(CARGO) run -q --release -p trailalerts-benches --example gen_events -- 100000 > target/events-100k.jsonl
	$(CARGO) run -q --release -p trailalerts-benches --example gen_events -- 100000 production > target/events-100k-production.jsonl
	$(VPY) benches/python_vs_rules.py target/events-100k.jsonl
	$(VPY) benches/python_vs_rules.py target/events-100k-production.jsonl

## Node binding vs plain JavaScript rules on 100k generated events.
bench-node:
	cd bindings-node && npm ci --no-audit --no-fund && npm run build
	$(CARGO) run -q --release -p trailalerts-benches --example gen_events -- 100000 > target/events-100k.jsonl
	$(CARGO) run -q --release -p trailalerts-benches --example gen_events -- 100000 production > target/events-100k-production.jsonl
	node benches/node_vs_rules.mjs target/events-100k.jsonl
	node benches/node_vs_rules.mjs target/events-100k-production.jsonl

## trailalerts vs jq and Python rule functions (orjson, json) on the same gzipped logs; then, one
## event at a time from memory, vs sigma-rust, rsigma and panther-core (rsigma builds ~12 min once).
bench-peers: build $(VPY)
	$(VPY) -m pip install -q orjson
	@command -v jq >/dev/null || (apt-get update -qq && apt-get install -y -qq jq) || echo "jq unavailable; skipped"
	rm -rf target/bench-logs
	$(CARGO) run -q --release -p trailalerts-benches --example gen_logs -- target/bench-logs 100 2000
	$(VPY) benches/peers.py target/bench-logs ./$(BIN)
	$(VPY) -m pip install -q panther-core python-dateutil jmespath
	cd benches/peers/harness && CARGO_TARGET_DIR=../../../target/peers/harness $(CARGO) build -q --release --locked
	test -x target/peers/bin/rsigma || $(CARGO) install rsigma --version 0.23.0 --no-default-features --features rsigma-runtime --locked --root target/peers
	$(CARGO) run -q --release -p trailalerts-benches --example gen_events -- 100000 > target/events-100k.jsonl
	$(VPY) benches/peers_memory.py target/events-100k.jsonl ./$(BIN) target/peers/harness/release/peers-harness target/peers/bin/rsigma

clean:
	$(CARGO) clean
	rm -rf $(VENV)
