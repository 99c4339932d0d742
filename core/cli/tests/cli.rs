//! The `trailalerts` binary, end to end.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailalerts"))
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn scan_samples_as_jsonl() {
    let out = run(&["scan", "--output", "jsonl", samples().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 10, "{} results", lines.len());
    for l in &lines {
        for key in ["alert_id", "alert_name", "risk", "event_id", "event_time", "event_name", "event_source", "region", "user", "source_ip", "raw"] {
            assert!(l.get(key).is_some(), "missing {key} in {l}");
        }
    }
    let ids: Vec<&str> = lines.iter().map(|l| l["alert_id"].as_str().unwrap()).collect();
    for want in ["cis-4.3-root-account-usage", "cis-4.5-cloudtrail-changes", "cis-4.2-console-login-without-mfa"] {
        assert!(ids.contains(&want), "{want} did not fire: {ids:?}");
    }
    let err = text(&out.stderr);
    assert!(err.contains("Bad records: 1"), "{err}");
    assert!(err.contains("siem-export.jsonl: line 13"), "bad record position reported: {err}");
    assert!(err.contains("events/s"), "{err}");
}

#[test]
fn threshold_results_carry_count() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = dir.path().join("burst.json");
    std::fs::write(&alerts, r#"{"id":"burst","name":"Denied burst","risk":"high","response":"unauthorized","threshold":{"count":20,"window_seconds":60,"group_by":["user"]}}"#).unwrap();
    let out = run(&["scan", "--no-builtin", "--alerts", alerts.to_str().unwrap(), "--output", "jsonl", samples().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["count"], 20);
    assert_eq!(lines[0]["user"], "ci-legacy");
}

#[test]
fn csv_output_has_header_and_quotes() {
    let out = run(&["scan", "--output", "csv", "-q", samples().to_str().unwrap()]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    let mut lines = s.split("\r\n");
    assert!(lines.next().unwrap().starts_with("id,alert_id,alert_name,risk,event_id"));
    assert!(s.contains("cis-4.3-root-account-usage,Root account used,critical"));
    assert!(text(&out.stderr).is_empty(), "--quiet prints no summary");
}

#[test]
fn invalid_alerts_exit_2_naming_alert_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(&f, r#"[{"id":"office","name":"Office","risk":"low","source_ips":{"include":["10.0.0.300/8"]}}]"#).unwrap();
    let out = run(&["scan", "--alerts", f.to_str().unwrap(), samples().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`office`") && err.contains("source_ips.include[0]") && err.contains("10.0.0.300/8"), "{err}");
}

#[test]
fn nothing_readable_exits_nonzero() {
    let out = run(&["scan", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/definitely/not/here"));
    let empty = tempfile::tempdir().unwrap();
    let out = run(&["scan", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing could be read"));
}

#[test]
fn truncated_gzip_keeps_earlier_records_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for i in 0..2000 {
        records.push(format!(
            r#"{{"eventID":"e{i}","eventTime":"2024-01-01T00:00:00Z","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","eventType":"AwsApiCall","sourceIPAddress":"203.0.113.{}","userIdentity":{{"type":"IAMUser","userName":"u{i}"}}}}"#,
            i % 250
        ));
    }
    let doc = format!(r#"{{"Records":[{}]}}"#, records.join(","));
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(doc.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let f = dir.path().join("trail.json.gz");
    std::fs::write(&f, &gz[..gz.len() * 2 / 3]).unwrap();
    let out = run(&["scan", "--output", "jsonl", f.to_str().unwrap()]);
    assert!(out.status.success());
    let n = text(&out.stdout).lines().count();
    assert!(n > 100 && n < 2000, "kept {n} results from before the damage");
    let err = text(&out.stderr);
    assert!(err.contains("damaged gzip") && err.contains("trail.json.gz"), "{err}");
}

#[test]
fn alerts_list_builtin_json() {
    let out = run(&["alerts", "list", "--builtin", "--output", "json"]);
    assert!(out.status.success());
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.len() >= 15);
    assert!(v.iter().all(|a| a["id"].is_string() && a["risk"].is_string() && a["name"].is_string()));
    let out = run(&["alerts", "show", "cis-4.3-root-account-usage"]);
    assert!(text(&out.stdout).contains("invokedBy NOT EXISTS"));
}

#[test]
fn enable_and_disable_alerts() {
    let list = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["alerts", "list", "--output", "json"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let enabled = |v: &[serde_json::Value], id: &str| v.iter().find(|a| a["id"] == id).map(|a| a["enabled"] != false).unwrap();
    let default = list(&[]);
    assert!(!enabled(&default, "security-events-any"), "the template is off by default");
    assert!(enabled(&default, "cis-4.1-unauthorized-api-calls"));
    let changed = list(&["--enable", "security-events-any", "--disable", "cis-4.1-unauthorized-api-calls"]);
    assert!(enabled(&changed, "security-events-any"));
    assert!(!enabled(&changed, "cis-4.1-unauthorized-api-calls"));
    let out = run(&["scan", "-q", "--output", "jsonl", "--disable", "cis-4.1-unauthorized-api-calls", samples().to_str().unwrap()]);
    assert!(!text(&out.stdout).contains("cis-4.1-unauthorized-api-calls"));
    let out = run(&["alerts", "list", "--enable", "no-such-alert"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn copy_of_a_builtin_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mine.json");
    std::fs::write(&f, r#"{"copy_of": "cis-4.3-root-account-usage", "id": "root-prod", "risk": "high", "regions": ["us-*"]}"#).unwrap();
    let out = run(&["alerts", "show", "root-prod", "--alerts", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let def: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(def["risk"], "high");
    assert!(def["pattern"].as_str().unwrap().contains("Root"), "the copy keeps the pattern");
    assert_eq!(def["regions"][0], "us-*");
}
