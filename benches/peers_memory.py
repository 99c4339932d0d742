#!/usr/bin/env python3
"""One event at a time from memory (the SQS path): trailalerts vs sigma-rust, rsigma and
Panther's panther-core runtime on the same JSON Lines events with the 15 CIS rules written for
each (Sigma rules in benches/peers/sigma/, Python rule functions from python_vs_rules.py).
Every tool must report the same number of (event, rule) matches.

Usage: python benches/peers_memory.py EVENTS.jsonl TRAILALERTS_BIN HARNESS_BIN [RSIGMA_BIN]
(make bench-peers builds the harness and rsigma and runs this.)
"""
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import python_vs_rules as pyrules  # noqa: E402  (the plain-Python CIS rules)


def harness(binary, mode, rules, events):
    out = subprocess.run([binary, mode, rules, events], capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    return r["seconds"], r["matches"]


def best_of(n, f):
    return min((f() for _ in range(n)), key=lambda r: r[0])


def rsigma(binary, rules, events):
    t = time.perf_counter()
    out = subprocess.run([binary, "engine", "eval", "-r", rules, "-e", "@" + events, "--output-format", "ndjson"],
                         capture_output=True, text=True, check=True).stdout
    secs = time.perf_counter() - t
    return secs, sum(1 for line in out.splitlines() if line.strip().startswith("{"))


def panther(lines):
    from panther_core.rule import Rule
    prelude = "\n".join(inspect.getsource(getattr(pyrules, n)) for n in ("human", "ok", "change", "cis_4_1", "cis_4_2", "cis_4_3", "cis_4_6"))
    sets = "".join(f"{n} = {getattr(pyrules, n)!r}\n" for n in ("UPDATE_TRAIL", "IAM_POLICY", "S3_POLICY", "CONFIG", "SG", "NACL", "GW", "ROUTE", "VPC", "ORG"))
    calls = ["cis_4_1(event)", "cis_4_2(event)", "cis_4_3(event)", "change(IAM_POLICY)(event)", "change(UPDATE_TRAIL)(event)",
             "cis_4_6(event)", "change({'DisableKey', 'ScheduleKeyDeletion'}, 'kms.amazonaws.com')(event)",
             "change(S3_POLICY, 's3.amazonaws.com')(event)", "change(CONFIG, 'config.amazonaws.com')(event)", "change(SG)(event)",
             "change(NACL)(event)", "change(GW)(event)", "change(ROUTE)(event)", "change(VPC)(event)",
             "change(ORG, 'organizations.amazonaws.com')(event)"]
    rules = [Rule({"id": f"cis-{i}", "versionId": "1", "body": sets + prelude + f"\n\ndef rule(event):\n    return bool({c})\n"})
             for i, c in enumerate(calls)]
    t = time.perf_counter()
    hits = 0
    for line in lines:
        e = json.loads(line)
        for r in rules:
            if r.run(e, {}, {}, batch_mode=True).trigger_alert:
                hits += 1
    return time.perf_counter() - t, hits


def main():
    events, binary, harness_bin = sys.argv[1:4]
    rsigma_bin = sys.argv[4] if len(sys.argv) > 4 else None
    lines = open(events, "rb").read().splitlines()
    n = len(lines)
    tmp = tempfile.mkdtemp()
    cis_file = os.path.join(tmp, "cis.json")
    out = subprocess.run([binary, "alerts", "list", "--builtin", "--output", "json"], capture_output=True, text=True, check=True).stdout
    with open(cis_file, "w") as f:
        json.dump([a for a in json.loads(out) if a["id"].startswith("cis-")], f)
    sigma_dir = os.path.join(HERE, "peers", "sigma")
    rows = [("trailalerts, one event at a time", *best_of(3, lambda: harness(harness_bin, "trailalerts", cis_file, events))),
            ("sigma-rust 0.7 (serde_json events)", *best_of(3, lambda: harness(harness_bin, "sigma-rust", sigma_dir, events)))]
    if rsigma_bin and os.path.exists(rsigma_bin):
        rows.append(("rsigma 0.23 CLI (incl. start-up)", *best_of(3, lambda: rsigma(rsigma_bin, sigma_dir, events))))
    else:
        print("rsigma not built; skipped", file=sys.stderr)
    try:
        rows.append(("panther-core Rule.run (Python)", *panther(lines)))
    except ImportError:
        print("panther-core not installed; skipped", file=sys.stderr)
    parse_secs, _ = best_of(3, lambda: harness(harness_bin, "parse", "-", events))
    base = rows[0][1]
    print(f"{events}: {n} events, 15 CIS rules each, one core")
    print(f"{'tool':40} {'events/s':>12} {'matches':>9} {'trailalerts is':>15}")
    for name, secs, matches in rows:
        print(f"{name:40} {n / secs:12,.0f} {matches:9} {secs / base:14.1f}x")
    print(f"{'parse-only reference (Event::parse)':40} {n / parse_secs:12,.0f} {'':9} {'':>6}trailalerts at {parse_secs / base:.2f}x of it")
    counts = {m for _, _, m in rows}
    if len(counts) != 1:
        print(f"match counts differ: {[(r[0], r[2]) for r in rows]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
