import json

import pytest

import trailalerts
from conftest import event, stratus

BURST = {"id": "burst", "name": "Denied burst", "risk": "high", "response": "unauthorized",
         "threshold": {"count": 3, "window_seconds": 60, "group_by": ["user"]}}


def test_evaluate_dict_str_and_bytes_give_the_same_results():
    engine = trailalerts.Engine()
    ev = event()
    for form in (ev, json.dumps(ev), json.dumps(ev).encode()):
        results = engine.evaluate(form)
        assert [r.alert_id for r in results] == ["cis-4.5-cloudtrail-changes"]
    r = results[0]
    assert (r.risk, r.user, r.event_id, r.event_time, r.region) == ("high", "mallory", "e1", "2024-05-01T10:00:00Z", "eu-west-1")
    assert r.count is None
    assert r.raw == ev
    d = r.to_dict()
    assert d["alert_id"] == "cis-4.5-cloudtrail-changes" and d["raw"]["eventID"] == "e1"
    assert "cis-4.5-cloudtrail-changes" in repr(r)


def test_real_stratus_events_fire_the_catalog():
    engine = trailalerts.Engine()
    found = {r.alert_id for r in engine.evaluate_many(stratus("persistence.iam-create-admin-user"))}
    assert {"admin-policy-attached", "iam-user-or-credentials-created", "cis-4.4-iam-policy-changes"} <= found


def test_threshold_state_lives_in_the_engine_across_calls():
    engine = trailalerts.Engine(alerts=[BURST], builtin=False)
    denied = [event(f"d{i}", name="ListBuckets", source="s3", time=f"2024-05-01T10:00:0{i}Z", errorCode="AccessDenied") for i in range(3)]
    assert engine.evaluate(denied[0]) == []
    assert engine.evaluate(denied[1]) == []
    (r,) = engine.evaluate(denied[2])
    assert r.count == 3 and r.window_start == "2024-05-01T10:00:00Z"
    state = engine.threshold_state()
    fresh = trailalerts.Engine(alerts=[BURST], builtin=False)
    fresh.restore_threshold_state(state)
    assert fresh.threshold_state() == state


def test_alerts_from_json_string_path_and_copy(tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(json.dumps([{"copy_of": "cis-4.3-root-account-usage", "id": "root-eu", "regions": ["eu-*"]}]))
    for source in (f, str(f), json.dumps({"id": "x", "name": "X", "risk": "low", "events": ["StopLogging"]})):
        engine = trailalerts.Engine(alerts=source, builtin=False)
        assert len(engine.alerts()) == 1
    engine = trailalerts.Engine(alerts=tmp_path, builtin=False)
    assert engine.alerts()[0]["pattern"].startswith("{ $.userIdentity.type")


def test_builtin_alerts_are_dicts():
    alerts = trailalerts.builtin_alerts()
    assert len(alerts) >= 30
    assert all({"id", "name", "risk"} <= a.keys() for a in alerts)


def test_errors_have_codes_and_name_the_problem():
    with pytest.raises(trailalerts.InvalidAlertError) as e:
        trailalerts.Engine(alerts=[{"id": "office", "name": "Office", "risk": "low", "source_ips": {"include": ["10.0.0.300/8"]}}])
    assert e.value.code == "invalid_alert"
    assert "office" in str(e.value) and "source_ips.include[0]" in str(e.value)
    assert isinstance(e.value, trailalerts.TrailAlertsError)
    with pytest.raises(trailalerts.InvalidEventError) as e:
        trailalerts.Engine().evaluate('{"eventName": 5}')
    assert e.value.code == "invalid_event" and "eventName" in str(e.value)
    with pytest.raises(trailalerts.InvalidEventError) as e:
        trailalerts.Engine().evaluate_many([event(), "not json"])
    assert "#1" in str(e.value)
    for cls in (trailalerts.InvalidAlertError, trailalerts.InvalidEventError, trailalerts.StorageError,
                trailalerts.NotFoundError, trailalerts.ScanError, trailalerts.NotificationError):
        assert issubclass(cls, trailalerts.TrailAlertsError)
        assert isinstance(cls.code, str)
    with pytest.raises(trailalerts.InvalidAlertError):
        trailalerts.Engine(enable=["no-such-alert"])


def test_scan_streams_results_and_reports_problems(samples):
    engine = trailalerts.Engine()
    scan = engine.scan([samples])
    results = list(scan)
    assert len(results) >= 20
    assert any(r.alert_id == "root-console-login" for r in results)
    assert len(scan.problems) == 1 and "siem-export.jsonl" in scan.problems[0]
    assert scan.summary["bad_records"] == 1 and scan.summary["files"] == 4
    with pytest.raises(trailalerts.ScanError) as e:
        list(engine.scan(["/no/such/dir"]))
    assert e.value.code == "io"


def test_ignores_silence_and_can_be_removed():
    engine = trailalerts.Engine()
    engine.add_ignore({"id": "m", "user": "mall*"}, alert_id="cis-4.5-cloudtrail-changes")
    assert engine.evaluate(event()) == []
    assert engine.stats()["ignored"] == 1
    assert engine.remove_ignore("m", alert_id="cis-4.5-cloudtrail-changes")
    assert len(engine.evaluate(event("e2"))) == 1


def test_sqlite_storage_query_and_ignore_from_result(tmp_path):
    store = trailalerts.SqliteStorage(tmp_path / "a.db")
    engine = trailalerts.Engine()
    results = engine.evaluate_many(stratus("persistence.iam-create-admin-user") + stratus("defense-evasion.cloudtrail-stop"))
    assert store.save(results) == len(results)
    assert store.save(results) == 0, "saved once per (alert, event)"
    page = store.query(risks=["high"], sort="event_time", desc=True, limit=2)
    assert 1 <= len(page["results"]) <= 2 and all(r["risk"] == "high" for r in page["results"])
    one = store.get(results[0].id)
    assert one["raw"]["eventID"] == results[0].event_id
    with pytest.raises(trailalerts.NotFoundError) as e:
        store.get("nope")
    assert e.value.code == "not_found" and isinstance(e.value, trailalerts.StorageError)
    stop = next(r for r in results if r.alert_id == "cis-4.5-cloudtrail-changes")
    ig = store.ignore_from_result(stop.id, by=["user", "event"], ignore_id="ops", note="maintenance")
    assert ig["event"] == "StopLogging" and ig["alert_id"] == "cis-4.5-cloudtrail-changes"
    # A new engine loads the stored ignore and silences the event.
    engine2 = trailalerts.Engine(storage=store)
    assert not any(r.alert_id == "cis-4.5-cloudtrail-changes" for r in engine2.evaluate_many(stratus("defense-evasion.cloudtrail-stop")))
    assert [i["id"] for i in store.ignores(alert_id="cis-4.5-cloudtrail-changes")] == ["ops"]
    with pytest.raises(trailalerts.StorageError) as e:
        store.query(sort="nonsense")
    assert e.value.code == "invalid_request"


def test_process_commits_and_skips_redelivered_events(tmp_path):
    store = trailalerts.SqliteStorage(tmp_path / "p.db")
    engine = trailalerts.Engine(alerts=[BURST], builtin=False)
    denied = [event(f"d{i}", name="ListBuckets", source="s3", time=f"2024-05-01T10:00:0{i}Z", errorCode="AccessDenied") for i in range(3)]
    assert engine.process(denied[:2], store, "2024-05-01T10:01:00Z") == []
    # A restarted process with the same store: the half-counted threshold fires, redelivery adds nothing.
    reopened = trailalerts.SqliteStorage(tmp_path / "p.db")
    engine = trailalerts.Engine(alerts=[BURST], builtin=False)
    engine.restore_threshold_state(_saved_state(tmp_path / "p.db"))
    assert engine.process(denied[1:2], reopened, "t") == []
    (r,) = engine.process(denied[2:], reopened, "t")
    assert r.count == 3
    assert reopened.count() == 1


def _saved_state(path):
    import sqlite3
    rows = sqlite3.connect(path).execute("SELECT alert_id, grp, times, window_ms FROM thresholds").fetchall()
    return [{"alert_id": a, "group": g, "times": json.loads(t), "window_ms": w} for a, g, t, w in rows]


def test_user_written_storage_and_notifier_protocols():
    class ListStore:
        def __init__(self):
            self.items = []

        def save(self, results):
            self.items.extend(results)
            return len(results)

    class Recorder:
        def __init__(self):
            self.seen = []

        def send(self, result):
            self.seen.append(result.alert_id)

    class Broken:
        def send(self, result):
            raise RuntimeError("receiver down")

    results = trailalerts.Engine().evaluate(event())
    store, rec = ListStore(), Recorder()
    assert isinstance(store, trailalerts.ResultSink) and isinstance(rec, trailalerts.Notifier)
    assert trailalerts.notify(results, [rec], storage=store) == 1
    assert rec.seen == ["cis-4.5-cloudtrail-changes"] and store.items == results
    with pytest.raises(trailalerts.NotificationError, match="receiver down"):
        trailalerts.notify(results, [Broken(), rec])
    assert rec.seen == ["cis-4.5-cloudtrail-changes"] * 2, "one failing notifier does not stop the others"


def test_same_results_as_the_rust_cli(corpus):
    import subprocess
    from conftest import REPO
    target = corpus / "stratus-red-team"
    out = subprocess.run(["cargo", "run", "-q", "-p", "trailalerts-cli", "--", "scan", "-q", "--output", "jsonl", str(target)],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    rust = [(r["alert_id"], r["event_id"], r.get("count")) for r in map(json.loads, out.splitlines())]
    py = [(r.alert_id, r.event_id, r.count) for r in trailalerts.Engine().scan([target])]
    assert len(rust) > 50
    assert py == rust


def test_channel_notifier_posts_to_a_real_local_webhook(monkeypatch):
    import http.server
    import json
    import socket
    import threading

    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            status = 400 if self.path == "/bad" else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        monkeypatch.setenv("TA_TEST_SLACK", f"http://127.0.0.1:{port}/services/SECRET")
        slack = trailalerts.ChannelNotifier({"type": "slack", "webhook_url": "env:TA_TEST_SLACK"})
        assert slack.channel == "slack" and isinstance(slack, trailalerts.Notifier)
        assert "SECRET" not in repr(slack)
        results = trailalerts.Engine().evaluate(event())
        assert trailalerts.notify(results, [slack]) == 1
        path, body = received[0]
        assert path == "/services/SECRET" and "CloudTrail" in body["text"]
        bad = trailalerts.ChannelNotifier({"type": "pagerduty", "routing_key": "k", "url": f"http://127.0.0.1:{port}/bad"})
        with pytest.raises(trailalerts.NotificationError, match="HTTP 400") as e:
            bad.send(results[0])
        assert e.value.retryable is False and e.value.code == "notification"
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        free = closed.getsockname()[1]
        closed.close()
        down = trailalerts.ChannelNotifier({"type": "syslog", "address": f"tcp://127.0.0.1:{free}"})
        with pytest.raises(trailalerts.NotificationError) as e:
            down.send(results[0])
        assert e.value.retryable is True
        with pytest.raises(trailalerts.InvalidAlertError, match="webhook"):
            trailalerts.ChannelNotifier({"type": "slack", "webhook": "x"})
        with pytest.raises(trailalerts.InvalidAlertError, match="boto3"):
            trailalerts.ChannelNotifier({"type": "sns", "topic_arn": "arn:aws:sns:us-east-1:1:t"})
    finally:
        server.shutdown()
