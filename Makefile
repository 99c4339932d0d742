# trailalerts — developer entry points. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/trailalerts

.PHONY: demo test test-rust lint build bench clean check-tools

check-tools:
	@command -v $(CARGO) >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }

build: check-tools
	$(CARGO) build --release -p trailalerts-cli

## Scan the bundled sample CloudTrail logs with the built-in alerts and print a table.
demo: build
	@echo "== trailalerts scan core/cli/samples (built-in catalog) =="
	./$(BIN) scan core/cli/samples

## Every test in the repository.
test: check-tools test-rust lint

test-rust:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint:
	@if $(CARGO) clippy --version >/dev/null 2>&1; then \
		$(CARGO) clippy --workspace --all-targets -- -D warnings; \
	else echo "clippy not installed; skipping lint"; fi

## Criterion benchmarks (see benches/README.md).
bench:
	$(CARGO) bench -p trailalerts-benches

clean:
	$(CARGO) clean
