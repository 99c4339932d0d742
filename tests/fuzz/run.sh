#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) with cargo-fuzz (libFuzzer, nightly).
# Crashing inputs are kept in tests/fuzz/artifacts/<target>/ and make this script fail; copy them
# into tests/fuzz/regressions/<target>/ so `cargo test` replays them (tests/tests/fuzz_regressions.rs).
# Prints executions per target. Skips (exit 0) when no nightly toolchain is available.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain here; skipped"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked >/dev/null 2>&1 || { echo "fuzz: cargo-fuzz could not be installed; skipped"; exit 0; }
fi
status=0
for t in records_events alert_definitions filter_pattern gzip_logs render sqs_message glob_cidr; do
  mkdir -p "corpus/$t"
  out=$(cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 2>&1)
  rc=$?
  execs=$(printf '%s\n' "$out" | grep -oE 'Done [0-9]+ runs' | tail -1)
  echo "fuzz $t: ${execs:-no summary} (exit $rc)"
  if [ $rc -ne 0 ]; then
    printf '%s\n' "$out" | tail -30
    status=1
  fi
done
exit $status
