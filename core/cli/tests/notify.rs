//! `scan` delivers alerts' notifications through the outbox; `notifications` lists, delivers
//! and retries. Secrets come from the environment (`env:NAME`) and AWS credentials from the
//! standard chain, as in production.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

#[path = "../../adapters/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::{HttpReceiver, Moto};

const SECRET_PATH: &str = "/services/T000/B000/TOPSECRETWEBHOOKTOKEN";
const ROUTING_KEY: &str = "PDROUTINGKEYSECRET0123456789abcd";

fn bin(moto: &Moto) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trailalerts"));
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("TEST_PD_KEY", ROUTING_KEY);
    let _ = moto;
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn samples() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .display()
        .to_string()
}

#[test]
fn scan_delivers_to_every_channel_and_keeps_failures_visible() {
    let moto = Moto::start();
    let rx = HttpReceiver::start();
    let pd = HttpReceiver::start();
    pd.control(json!({"status": 400}));
    let topic = moto.helper(&["sns-topic", "cli"]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alerts.db");
    let alerts = dir.path().join("alerts.json");
    let alert = json!({"id": "trail-stopped", "name": "CloudTrail stopped", "risk": "critical", "events": ["StopLogging", "DeleteTrail"],
    "notifications": [
        {"type": "slack", "webhook_url": "env:TEST_SLACK_URL"},
        {"type": "pagerduty", "routing_key": "env:TEST_PD_KEY", "url": pd.url("/v2/enqueue")},
        {"type": "sns", "topic_arn": topic["topic_arn"], "endpoint_url": moto.endpoint()},
        {"type": "lambda", "function": "soar", "endpoint_url": rx.url("")}
    ]});
    std::fs::write(&alerts, alert.to_string()).unwrap();
    let slack_url = rx.url(SECRET_PATH);
    let out = bin(&moto)
        .env("TEST_SLACK_URL", &slack_url)
        .args([
            "scan",
            "--no-builtin",
            "--alerts",
            alerts.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--output",
            "jsonl",
            &samples(),
        ])
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("Notifications: 3 delivered, 1 failed, 0 pending"),
        "{all}"
    );
    assert!(
        all.contains("pagerduty notification for alert `trail-stopped` failed: HTTP 400"),
        "{all}"
    );
    // Slack and Lambda reached the HTTP receiver, SNS reached the subscribed queue.
    let reqs = rx.requests();
    assert_eq!(reqs.iter().filter(|r| r["path"] == SECRET_PATH).count(), 1);
    assert_eq!(
        reqs.iter()
            .filter(|r| r["path"]
                .as_str()
                .unwrap()
                .ends_with("/functions/soar/invocations"))
            .count(),
        1
    );
    assert_eq!(
        reqs.iter()
            .find(|r| r["path"].as_str().unwrap().contains("/functions/"))
            .unwrap()["sigv4"],
        "valid"
    );
    assert_eq!(
        moto.helper(&["read", topic["queue_url"].as_str().unwrap()])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The result shows each channel's status; the failure says why.
    let show = bin(&moto)
        .args([
            "results",
            "--db",
            db.to_str().unwrap(),
            "--output",
            "jsonl",
            "--columns",
            "id,notifications",
        ])
        .output()
        .unwrap();
    let line: Value = serde_json::from_str(
        String::from_utf8_lossy(&show.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let n = &line["notifications"];
    assert_eq!(
        (n["slack"].as_str(), n["sns"].as_str(), n["lambda"].as_str()),
        (Some("delivered"), Some("delivered"), Some("delivered")),
        "{line}"
    );
    assert!(
        n["pagerduty"]
            .as_str()
            .unwrap()
            .starts_with("failed: HTTP 400"),
        "{line}"
    );

    let list = bin(&moto)
        .args([
            "notifications",
            "list",
            "--db",
            db.to_str().unwrap(),
            "--status",
            "failed",
            "--output",
            "jsonl",
        ])
        .output()
        .unwrap();
    let listed = text(&list);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).lines().count(),
        1,
        "{listed}"
    );
    let failed: Value = serde_json::from_str(
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(failed["config"]["routing_key"], "env:TEST_PD_KEY");

    // Fixed receiver: retry the failed one and deliver it.
    pd.control(json!({}));
    let id = failed["id"].as_str().unwrap();
    assert!(
        bin(&moto)
            .args(["notifications", "retry", "--db", db.to_str().unwrap(), id])
            .status()
            .unwrap()
            .success()
    );
    let deliver = bin(&moto)
        .args([
            "notifications",
            "deliver",
            "--db",
            db.to_str().unwrap(),
            "--timeout",
            "20",
        ])
        .output()
        .unwrap();
    assert!(deliver.status.success(), "{}", text(&deliver));
    assert!(
        text(&deliver).contains("Notifications: 1 delivered, 0 failed, 0 pending"),
        "{}",
        text(&deliver)
    );
    let body: Value =
        serde_json::from_str(pd.requests().last().unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["routing_key"], ROUTING_KEY);
    assert_eq!(body["payload"]["severity"], "critical");

    // Scanning the same logs again notifies nobody twice.
    let again = bin(&moto)
        .env("TEST_SLACK_URL", &slack_url)
        .args([
            "scan",
            "--no-builtin",
            "--alerts",
            alerts.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "-q",
            &samples(),
        ])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(rx.requests().len(), reqs.len());
    // Pruning delivered notifications keeps them from being sent again too.
    let prune = bin(&moto)
        .args([
            "notifications",
            "prune",
            "--db",
            db.to_str().unwrap(),
            "--older-than-days",
            "0",
        ])
        .output()
        .unwrap();
    assert!(
        text(&prune).contains("forgot 4 delivered notification(s)"),
        "{}",
        text(&prune)
    );
    let third = bin(&moto)
        .env("TEST_SLACK_URL", &slack_url)
        .args([
            "scan",
            "--no-builtin",
            "--alerts",
            alerts.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "-q",
            &samples(),
        ])
        .output()
        .unwrap();
    assert!(third.status.success(), "{}", text(&third));
    assert_eq!(
        rx.requests().len(),
        reqs.len(),
        "no notification sent again after pruning"
    );

    // No output anywhere shows a secret in full.
    let table = bin(&moto)
        .args(["notifications", "list", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    for o in [&out, &show, &list, &deliver, &again, &table] {
        let t = text(o);
        assert!(
            !t.contains("TOPSECRETWEBHOOKTOKEN") && !t.contains(ROUTING_KEY),
            "secret shown: {t}"
        );
    }
}

#[test]
fn unknown_channel_types_and_missing_secrets_are_reported() {
    let moto_less = Command::new(env!("CARGO_BIN_EXE_trailalerts"))
        .args(["alerts", "validate"])
        .arg({
            let dir = tempfile::tempdir().unwrap().keep();
            let p = dir.join("a.json");
            std::fs::write(&p, r#"{"id": "a", "name": "A", "risk": "low", "notifications": [{"type": "slack", "webhook": "https://x"}]}"#).unwrap();
            p
        })
        .output()
        .unwrap();
    assert!(!moto_less.status.success());
    let t = text(&moto_less);
    assert!(
        t.contains("notifications[0]") && t.contains("webhook"),
        "{t}"
    );

    let dir = tempfile::tempdir().unwrap();
    let alerts = dir.path().join("a.json");
    std::fs::write(&alerts, r#"{"id": "a", "name": "A", "risk": "low", "events": ["StopLogging"], "notifications": [{"type": "teams", "url": "x"}]}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trailalerts"))
        .args([
            "scan",
            "--no-builtin",
            "--alerts",
            alerts.to_str().unwrap(),
            &samples(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no notifier for type `teams`"),
        "{}",
        text(&out)
    );

    std::fs::write(&alerts, r#"{"id": "a", "name": "A", "risk": "low", "events": ["StopLogging"], "notifications": [{"type": "slack", "webhook_url": "env:TRAILALERTS_UNSET_VAR"}]}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trailalerts"))
        .args([
            "scan",
            "--no-builtin",
            "--alerts",
            alerts.to_str().unwrap(),
            &samples(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("environment variable TRAILALERTS_UNSET_VAR, which is not set"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("could not be delivered") || text(&out).contains("1 failed"),
        "{}",
        text(&out)
    );
}

#[test]
fn attempts_are_configurable_and_a_receiver_that_keeps_failing_is_given_up() {
    let rx = HttpReceiver::start();
    rx.control(json!({"status": 503}));
    let dir = tempfile::tempdir().unwrap();
    let alerts = dir.path().join("a.json");
    std::fs::write(
        &alerts,
        json!({"id": "a", "name": "A", "risk": "low", "events": ["StopLogging"], "notifications": [{"type": "slack", "webhook_url": rx.url("/hook")}]}).to_string(),
    )
    .unwrap();
    let db = dir.path().join("a.db");
    let out = Command::new(env!("CARGO_BIN_EXE_trailalerts"))
        .args([
            "scan",
            "--no-builtin",
            "--alerts",
            alerts.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--notify-attempts",
            "2",
            &samples(),
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("Notifications: 0 delivered, 1 failed, 0 pending (2 attempts)"),
        "{t}"
    );
    assert!(
        t.contains("HTTP 503") && t.contains("gave up after 2 attempts"),
        "{t}"
    );
    assert_eq!(rx.requests().len(), 2);
}
