//! `trailalerts watch` against moto_server: S3 notifications, CloudTrail's SNS notification, SNS
//! envelopes, EventBridge events and raw records become stored results and notifications;
//! unknown and failing messages go to the dead-letter queue; a process killed mid-run and
//! restarted loses nothing and duplicates nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

#[path = "../../adapters/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{HttpReceiver, Moto};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trailalerts"));
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stratus() -> Vec<PathBuf> {
    let dir = support::workspace().join("tests/data/corpus/stratus-red-team");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/AWSLogs")
}

/// Result ids `scan` finds in these paths with these alerts: what `watch` must store.
fn expected(alerts: &Path, paths: &[PathBuf]) -> BTreeSet<String> {
    let out = bin()
        .args([
            "scan",
            "-q",
            "--no-notify",
            "--output",
            "jsonl",
            "--alerts",
            alerts.to_str().unwrap(),
        ])
        .args(paths)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn stored(db: &Path) -> Vec<String> {
    let out = bin()
        .args([
            "results",
            "--db",
            db.to_str().unwrap(),
            "--output",
            "jsonl",
            "--columns",
            "id",
            "--limit",
            "100000",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn alerts_file(dir: &Path, rx: &HttpReceiver) -> PathBuf {
    let p = dir.join("alerts.json");
    let alert = json!({"id": "denied", "name": "Denied call", "risk": "medium", "response": "failure",
                       "notifications": [{"type": "slack", "webhook_url": rx.url("/hook")}]});
    std::fs::write(&p, alert.to_string()).unwrap();
    p
}

/// Slack messages received per result id.
fn notified(rx: &HttpReceiver) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rx.requests() {
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        let ctx = body["blocks"].as_array().unwrap().last().unwrap()["elements"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = ctx.rsplit('`').nth(1).unwrap().to_owned();
        *m.entry(id).or_insert(0) += 1;
    }
    m
}

#[test]
fn every_message_shape_becomes_results_and_bad_messages_reach_the_dead_letter_queue() {
    let moto = Moto::start();
    let rx = HttpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alerts.db");
    let alerts = alerts_file(dir.path(), &rx);
    let q = moto.helper(&["watch-setup", "trail"]);
    let (bucket, queue) = (
        q["bucket"].as_str().unwrap(),
        q["queue_url"].as_str().unwrap(),
    );
    let put = |key: &str, file: &Path, gz: bool| {
        let mut args = vec!["put", bucket, key, file.to_str().unwrap()];
        if gz {
            args.push("gzip");
        }
        moto.helper(&args);
    };
    // S3 notifications (moto sends them on upload, keys URL-encoded as in AWS).
    let logs = stratus();
    let mut expected_paths: Vec<PathBuf> = Vec::new();
    for (i, f) in logs.iter().take(6).enumerate() {
        put(
            &format!(
                "AWSLogs/751353041310/CloudTrail/us-east-1/2024/07/31/751353041310_CloudTrail_us-east-1_{i}+x.json.gz"
            ),
            f,
            true,
        );
        expected_paths.push(f.clone());
    }
    for f in walk(&samples()) {
        let key = f
            .strip_prefix(samples().parent().unwrap())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        put(&key, &f, false);
        expected_paths.push(f);
    }
    put(
        "AWSLogs/751353041310/CloudTrail-Digest/us-east-1/2024/07/31/digest.json.gz",
        &logs[0],
        true,
    );
    // CloudTrail's own SNS notification in an SNS envelope, for an object already announced by S3
    // (the same events twice: stored once).
    let ct = json!({"s3Bucket": bucket, "s3ObjectKey": ["AWSLogs/751353041310/CloudTrail/us-east-1/2024/07/31/751353041310_CloudTrail_us-east-1_0+x.json.gz"]});
    let msgs = [
        json!({"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:ct", "Message": ct.to_string()}),
        // EventBridge, a raw record and a Records body, from a seventh corpus file.
        json!({"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": first_record(&logs[6])}),
        first_record(&logs[7]),
        json!({"Records": records(&logs[8])}),
        // Unknown shape and a missing object: left for the dead-letter queue.
        json!({"hello": "world"}),
        json!({"s3Bucket": bucket, "s3ObjectKey": ["AWSLogs/751353041310/CloudTrail/us-east-1/2024/07/31/missing.json.gz"]}),
    ];
    let events_file = dir.path().join("message-events.jsonl");
    let mut lines = vec![
        first_record(&logs[6]).to_string(),
        first_record(&logs[7]).to_string(),
    ];
    lines.extend(records(&logs[8]).into_iter().map(|r| r.to_string()));
    std::fs::write(&events_file, lines.join("\n")).unwrap();
    expected_paths.push(events_file.clone());
    for (i, m) in msgs.iter().enumerate() {
        let f = dir.path().join(format!("msg{i}.json"));
        std::fs::write(&f, m.to_string()).unwrap();
        moto.helper(&["send", queue, f.to_str().unwrap()]);
    }
    let started = Instant::now();
    let out = bin()
        .args([
            "watch",
            "--queue-url",
            queue,
            "--endpoint-url",
            &moto.endpoint(),
            "--db",
            db.to_str().unwrap(),
            "--alerts",
            alerts.to_str().unwrap(),
        ])
        .args([
            "--exit-when-empty",
            "--wait-seconds",
            "2",
            "--visibility-timeout",
            "1",
        ])
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let want = expected(&alerts, &expected_paths);
    let got = stored(&db);
    let got_set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len());
    assert_eq!(
        got_set, want,
        "watch stores exactly what scan finds in the same events\n{log}"
    );
    assert!(log.contains("CloudTrail digest file"), "{log}");
    assert!(log.contains("S3 test event"), "{log}");
    assert!(
        log.contains("not an S3 notification, CloudTrail notification"),
        "{log}"
    );
    assert!(log.contains("missing.json.gz"), "{log}");
    assert!(
        log.contains("duplicates=") && !log.contains("duplicates=0 "),
        "the re-announced object's events are recognised: {log}"
    );
    let dlq = moto.helper(&["count", q["dlq_url"].as_str().unwrap()]);
    assert_eq!(
        dlq["visible"], 2,
        "unknown and failing messages end in the DLQ: {log}"
    );
    let main = moto.helper(&["count", queue]);
    assert_eq!(
        (main["visible"].as_i64(), main["in_flight"].as_i64()),
        (Some(0), Some(0)),
        "{log}"
    );
    // Notifications: one per result of the alert that has them.
    let n = notified(&rx);
    let denied: BTreeSet<String> = {
        let out = bin()
            .args([
                "results",
                "--db",
                db.to_str().unwrap(),
                "--alert",
                "denied",
                "--output",
                "jsonl",
                "--columns",
                "id",
                "--limit",
                "100000",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert!(!denied.is_empty());
    assert_eq!(n.keys().cloned().collect::<BTreeSet<_>>(), denied);
    assert!(n.values().all(|&c| c == 1), "{n:?}");
    let events: usize = want.len();
    eprintln!(
        "watch through moto: {events} results in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out.sort();
    out
}

fn records(f: &Path) -> Vec<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
    v["Records"].as_array().unwrap().clone()
}

fn first_record(f: &Path) -> Value {
    records(f).remove(0)
}

#[test]
fn killed_and_restarted_watch_loses_nothing_and_duplicates_nothing() {
    let moto = Moto::start();
    let rx = HttpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alerts.db");
    let alerts = alerts_file(dir.path(), &rx);
    let q = moto.helper(&["watch-setup", "kill", "50"]);
    let (bucket, queue) = (
        q["bucket"].as_str().unwrap(),
        q["queue_url"].as_str().unwrap(),
    );
    let logs = stratus();
    for (i, f) in logs.iter().enumerate() {
        moto.helper(&[
            "put",
            bucket,
            &format!("AWSLogs/1/CloudTrail/us-east-1/2024/07/31/f{i}.json.gz"),
            f.to_str().unwrap(),
            "gzip",
        ]);
    }
    let args = |exit: bool| {
        let mut c = bin();
        c.args([
            "watch",
            "--queue-url",
            queue,
            "--endpoint-url",
            &moto.endpoint(),
            "--db",
            db.to_str().unwrap(),
            "--alerts",
            alerts.to_str().unwrap(),
        ])
        .args([
            "--wait-seconds",
            "1",
            "--visibility-timeout",
            "2",
            "--concurrency",
            "2",
            "--notify-lease",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if exit {
            c.arg("--exit-when-empty");
        }
        c
    };
    // Kill -9 at a few points while messages are being processed.
    // Kill -9 at varied points: right after start, while fetching, mid-commit, while sending.
    let delays_ms = [0u64, 40, 150, 90, 300, 20, 220, 500];
    for (round, delay) in delays_ms.iter().enumerate() {
        let mut child = args(false).spawn().unwrap();
        if round % 2 == 1 {
            // Wait for progress first, then kill a little later.
            let before = if db.exists() { stored(&db).len() } else { 0 };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20)
                && !(db.exists() && stored(&db).len() > before)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        std::thread::sleep(Duration::from_millis(*delay));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let out = args(true).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let want = expected(&alerts, &logs);
    let got = stored(&db);
    let got_set: BTreeSet<String> = got.iter().cloned().collect();
    let missing: Vec<&String> = want.difference(&got_set).collect();
    let extra: Vec<&String> = got_set.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}\n{}",
        text(&out)
    );
    assert_eq!(got.len(), want.len());
    let n = notified(&rx);
    let denied = want.len() - n.len();
    assert!(!n.is_empty());
    // Delivery is at least once: a process killed between a receiver accepting a message and
    // recording it may send that one again; never more than the in-flight sends per kill.
    let repeats: usize = n.values().map(|c| c - 1).sum();
    eprintln!(
        "notifications: {} results notified, {repeats} repeated after kills",
        n.len()
    );
    assert!(repeats <= delays_ms.len() * 4, "{n:?}");
    let _ = denied;
    let out = bin()
        .args([
            "notifications",
            "list",
            "--db",
            db.to_str().unwrap(),
            "--status",
            "pending",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        1,
        "nothing left pending: {}",
        text(&out)
    );
}

#[test]
fn queue_5xx_and_throttling_are_retried() {
    let moto = Moto::start();
    let proxy = HttpReceiver::proxy(&moto.endpoint());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alerts.db");
    let none = dir.path().join("none.json");
    std::fs::write(&none, "[]").unwrap();
    let q = moto.helper(&["watch-setup", "faulty", "10"]);
    let (bucket, queue) = (
        q["bucket"].as_str().unwrap(),
        q["queue_url"].as_str().unwrap(),
    );
    let files = walk(&samples());
    let throttling = json!({"status": 400, "times": 4, "body": "{\"__type\":\"com.amazonaws.sqs#ThrottlingException\",\"message\":\"Rate exceeded\"}"});
    for (round, mode) in [json!({"status": 503, "times": 5}), throttling]
        .into_iter()
        .enumerate()
    {
        for f in &files {
            let key = f
                .strip_prefix(samples().parent().unwrap())
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            moto.helper(&[
                "put",
                bucket,
                &format!("{round}/{key}"),
                f.to_str().unwrap(),
            ]);
        }
        let before = proxy
            .requests()
            .iter()
            .filter(|r| r["failed"] == true)
            .count();
        proxy.control(mode.clone());
        let out = bin()
            .args([
                "watch",
                "--queue-url",
                queue,
                "--endpoint-url",
                &proxy.url(""),
                "--db",
                db.to_str().unwrap(),
                "--alerts",
                none.to_str().unwrap(),
            ])
            .args(["--exit-when-empty", "--wait-seconds", "1"])
            .output()
            .unwrap();
        let log = text(&out);
        assert!(out.status.success(), "{log}");
        let failed = proxy
            .requests()
            .iter()
            .filter(|r| r["failed"] == true)
            .count()
            - before;
        assert_eq!(
            failed,
            mode["times"].as_u64().unwrap() as usize,
            "every injected failure was met and retried: {log}"
        );
        assert!(
            log.contains("objects=3 ") && log.contains("failed=0 "),
            "all three log files handled despite {mode}: {log}"
        );
    }
    // The same events were announced twice (two prefixes): stored once.
    assert_eq!(
        stored(&db).into_iter().collect::<BTreeSet<_>>(),
        expected(&none, &files)
    );
}

#[test]
fn sigterm_stops_gracefully_and_two_consumers_share_a_queue() {
    let moto = Moto::start();
    let rx = HttpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alerts.db");
    let alerts = alerts_file(dir.path(), &rx);
    let q = moto.helper(&["watch-setup", "shared", "50"]);
    let (bucket, queue) = (
        q["bucket"].as_str().unwrap(),
        q["queue_url"].as_str().unwrap(),
    );
    let logs = stratus();
    for (i, f) in logs.iter().enumerate() {
        moto.helper(&[
            "put",
            bucket,
            &format!("AWSLogs/1/CloudTrail/us-east-1/2024/07/31/f{i}.json.gz"),
            f.to_str().unwrap(),
            "gzip",
        ]);
    }
    let watch = |exit: bool| {
        let mut c = bin();
        c.args([
            "watch",
            "--queue-url",
            queue,
            "--endpoint-url",
            &moto.endpoint(),
            "--db",
            db.to_str().unwrap(),
            "--alerts",
            alerts.to_str().unwrap(),
        ])
        .args([
            "--wait-seconds",
            "20",
            "--visibility-timeout",
            "30",
            "--concurrency",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if exit {
            c.arg("--exit-when-empty");
        }
        c
    };
    // SIGTERM during a 20-second long poll: stops at once, exits 0, logs its counters.
    let child = watch(false).spawn().unwrap();
    let start = Instant::now();
    while !db.exists() || stored(&db).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no results");
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        sent.elapsed() < Duration::from_secs(15),
        "graceful stop took {:?}",
        sent.elapsed()
    );
    assert!(log.contains("stopped: messages="), "{log}");
    // Two consumers drain the rest together.
    let a = watch(true).spawn().unwrap();
    let b = watch(true).spawn().unwrap();
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        oa.status.success() && ob.status.success(),
        "{}\n{}",
        text(&oa),
        text(&ob)
    );
    let got = stored(&db);
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        expected(&alerts, &logs),
        "{}\n{}",
        text(&oa),
        text(&ob)
    );
    let n = notified(&rx);
    assert!(n.values().all(|&c| c == 1), "each notification once: {n:?}");
}
