"""Threads, Ctrl-C during a long scan, flat memory, stubs and README snippets."""
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import trailalerts
from conftest import REPO, event


def test_several_threads_evaluate_at_once():
    engine = trailalerts.Engine()
    events = [event(f"t{i}") for i in range(2000)]
    out = {}

    def work(n):
        out[n] = sum(len(engine.evaluate_many(events[n::4])) for _ in range(3))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(out.values()) == 3 * 2000
    assert engine.stats()["events"] == 3 * 2000


def test_ctrl_c_stops_a_long_scan_promptly(tmp_path):
    big = tmp_path / "big.jsonl"
    line = (REPO / "tests/data/corpus/awsdocs_examples.jsonl").read_text()
    big.write_text(line * 300)
    # Python raises KeyboardInterrupt as in a terminal: a runner that starts the tests in the
    # background hands them SIGINT ignored, and Python then leaves it ignored.
    script = textwrap.dedent(f"""
        import signal, sys, time, trailalerts
        signal.signal(signal.SIGINT, signal.default_int_handler)
        engine = trailalerts.Engine()
        print("started", flush=True)
        try:
            for _ in engine.scan([{str(big)!r}] * 100000):
                pass
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        print("finished", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.0)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    code = p.wait(timeout=20)
    elapsed = time.monotonic() - t0
    assert code == 3, p.stdout.read()
    assert elapsed < 2.0, f"KeyboardInterrupt took {elapsed:.2f}s"


def test_closing_a_scan_stops_it_and_frees_the_engine(tmp_path):
    # Each file holds far more results than the scan's channel (1,024): a closed scan must not
    # stay blocked on a full channel holding the engine.
    big = tmp_path / "big.jsonl"
    line = (REPO / "tests/data/corpus/awsdocs_examples.jsonl").read_text()
    big.write_text(line * 300)
    script = textwrap.dedent(f"""
        import trailalerts
        engine = trailalerts.Engine()
        scan = engine.scan([{str(big)!r}] * 1000)
        next(scan)
        scan.close()
        assert list(scan) == []
        print(engine.stats()["events"] < 1000 * 300, flush=True)
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "True"


def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_memory_stays_flat_over_a_million_evaluations():
    engine = trailalerts.Engine()
    chunk = [event(f"m{i}", time=f"2024-05-01T10:{(i // 60) % 60:02d}:{i % 60:02d}Z") for i in range(10_000)]
    engine.evaluate_many(chunk)
    before = _rss_kb()
    for _ in range(99):
        engine.evaluate_many(chunk)
    grown = _rss_kb() - before
    assert engine.stats()["events"] == 1_000_000
    assert grown < 30_000, f"RSS grew {grown} KiB over 1M evaluations"


def test_stubs_match_the_module():
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "trailalerts._native", "--ignore-missing-stub"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_package_type_checks_against_its_stubs(tmp_path):
    usage = tmp_path / "usage.py"
    usage.write_text(textwrap.dedent("""
        import trailalerts
        engine = trailalerts.Engine(alerts=[{"id": "a", "name": "A", "risk": "low"}], builtin=False)
        results: list[trailalerts.Result] = engine.evaluate({"eventName": "X"})
        n: int = sum(1 for r in results if r.count is not None)
        store = trailalerts.MemoryStorage()
        saved: int = store.save(results)
        page = store.query(risks=["high"], limit=10)
    """))
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(usage)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_and_guide_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").symlink_to(REPO / "core/cli/samples")
    blocks = _python_blocks(REPO / "README.md") + _python_blocks(REPO / "docs/python.md")
    assert blocks, "documentation has Python snippets"
    for block in blocks:
        exec(compile(block, "<doc snippet>", "exec"), {})
