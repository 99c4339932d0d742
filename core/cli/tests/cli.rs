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
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 10, "{} results", lines.len());
    for l in &lines {
        for key in [
            "alert_id",
            "alert_name",
            "risk",
            "event_id",
            "event_time",
            "event_name",
            "event_source",
            "region",
            "user",
            "source_ip",
            "raw",
        ] {
            assert!(l.get(key).is_some(), "missing {key} in {l}");
        }
    }
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["alert_id"].as_str().unwrap())
        .collect();
    for want in [
        "cis-4.3-root-account-usage",
        "cis-4.5-cloudtrail-changes",
        "cis-4.2-console-login-without-mfa",
    ] {
        assert!(ids.contains(&want), "{want} did not fire: {ids:?}");
    }
    let err = text(&out.stderr);
    assert!(err.contains("Bad records: 1"), "{err}");
    assert!(
        err.contains("siem-export.jsonl: line 13"),
        "bad record position reported: {err}"
    );
    assert!(err.contains("events/s"), "{err}");
}

#[test]
fn threshold_results_carry_count() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = dir.path().join("burst.json");
    std::fs::write(&alerts, r#"{"id":"burst","name":"Denied burst","risk":"high","response":"unauthorized","threshold":{"count":20,"window_seconds":60,"group_by":["user"]}}"#).unwrap();
    let out = run(&[
        "scan",
        "--no-builtin",
        "--alerts",
        alerts.to_str().unwrap(),
        "--output",
        "jsonl",
        samples().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
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
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,alert_id,alert_name,risk,event_id")
    );
    assert!(s.contains("cis-4.3-root-account-usage,Root account used,critical"));
    assert!(text(&out.stderr).is_empty(), "--quiet prints no summary");
}

#[test]
fn invalid_alerts_exit_2_naming_alert_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(&f, r#"[{"id":"office","name":"Office","risk":"low","source_ips":{"include":["10.0.0.300/8"]}}]"#).unwrap();
    let out = run(&[
        "scan",
        "--alerts",
        f.to_str().unwrap(),
        samples().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("`office`")
            && err.contains("source_ips.include[0]")
            && err.contains("10.0.0.300/8"),
        "{err}"
    );
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
    assert!(
        n > 100 && n < 2000,
        "kept {n} results from before the damage"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("damaged gzip") && err.contains("trail.json.gz"),
        "{err}"
    );
}

#[test]
fn alerts_list_builtin_json() {
    let out = run(&["alerts", "list", "--builtin", "--output", "json"]);
    assert!(out.status.success());
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.len() >= 15);
    assert!(
        v.iter()
            .all(|a| a["id"].is_string() && a["risk"].is_string() && a["name"].is_string())
    );
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
    let enabled = |v: &[serde_json::Value], id: &str| {
        v.iter()
            .find(|a| a["id"] == id)
            .map(|a| a["enabled"] != false)
            .unwrap()
    };
    let default = list(&[]);
    assert!(
        !enabled(&default, "security-events-any"),
        "the template is off by default"
    );
    assert!(enabled(&default, "cis-4.1-unauthorized-api-calls"));
    let changed = list(&[
        "--enable",
        "security-events-any",
        "--disable",
        "cis-4.1-unauthorized-api-calls",
    ]);
    assert!(enabled(&changed, "security-events-any"));
    assert!(!enabled(&changed, "cis-4.1-unauthorized-api-calls"));
    let out = run(&[
        "scan",
        "-q",
        "--output",
        "jsonl",
        "--disable",
        "cis-4.1-unauthorized-api-calls",
        samples().to_str().unwrap(),
    ]);
    assert!(!text(&out.stdout).contains("cis-4.1-unauthorized-api-calls"));
    let out = run(&["alerts", "list", "--enable", "no-such-alert"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn copy_of_a_builtin_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mine.json");
    std::fs::write(&f, r#"{"copy_of": "cis-4.3-root-account-usage", "id": "root-prod", "risk": "high", "regions": ["us-*"]}"#).unwrap();
    let out = run(&[
        "alerts",
        "show",
        "root-prod",
        "--alerts",
        f.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let def: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(def["risk"], "high");
    assert!(
        def["pattern"].as_str().unwrap().contains("Root"),
        "the copy keeps the pattern"
    );
    assert_eq!(def["regions"][0], "us-*");
}

fn jsonl(out: &Output) -> Vec<serde_json::Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn results_are_stored_searched_exported_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db = db.to_str().unwrap();
    let samples = samples();
    let samples = samples.to_str().unwrap();
    let first = run(&["scan", "-q", "--db", db, "--output", "jsonl", samples]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let scanned = jsonl(&first).len();
    // Scanning again stores nothing new.
    let again = run(&["scan", "--db", db, "--output", "jsonl", samples]);
    assert!(
        text(&again.stderr).contains("Stored 0 new result(s)"),
        "{}",
        text(&again.stderr)
    );

    let all = jsonl(&run(&["results", "--db", db, "--output", "jsonl"]));
    assert_eq!(all.len(), scanned);
    assert!(
        all.iter().all(|r| r["raw"].is_object()),
        "exports carry the raw event"
    );

    // Filters, sort, pagination with a cursor.
    let crit = jsonl(&run(&[
        "results",
        "--db",
        db,
        "--risk",
        "critical",
        "--sort",
        "event_time",
        "--desc",
        "--output",
        "jsonl",
    ]));
    assert!(!crit.is_empty() && crit.iter().all(|r| r["risk"] == "critical"));
    let times: Vec<&str> = crit
        .iter()
        .map(|r| r["event_time"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "descending: {times:?}"
    );
    let page1 = run(&[
        "results",
        "--db",
        db,
        "--limit",
        "3",
        "--output",
        "jsonl",
        "--columns",
        "id",
    ]);
    let cursor = text(&page1.stderr)
        .split("--cursor ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let page2 = jsonl(&run(&[
        "results",
        "--db",
        db,
        "--limit",
        "3",
        "--output",
        "jsonl",
        "--columns",
        "id",
        "--cursor",
        &cursor,
    ]));
    let ids1: Vec<String> = jsonl(&page1)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids1.len(), 3);
    assert!(
        page2
            .iter()
            .all(|r| !ids1.contains(&r["id"].as_str().unwrap().to_owned()))
    );
    let by_cidr = jsonl(&run(&[
        "results",
        "--db",
        db,
        "--source-ip",
        "192.0.2.0/24",
        "--user",
        "adminsso*",
        "--output",
        "jsonl",
    ]));
    assert!(!by_cidr.is_empty() && by_cidr.iter().all(|r| r["source_ip"] == "192.0.2.200"));
    let csv = text(
        &run(&[
            "results",
            "--db",
            db,
            "--columns",
            "alert_id,user",
            "--output",
            "csv",
        ])
        .stdout,
    );
    assert!(csv.starts_with("alert_id,user\r\n"), "{csv}");

    // Show one, ignore it by user+event, scan again: silenced and counted.
    let root = jsonl(&run(&[
        "results",
        "--db",
        db,
        "--alert",
        "root-console-login",
        "--output",
        "jsonl",
    ]));
    let id = root[0]["id"].as_str().unwrap();
    let shown = run(&["results", "show", id, "--db", db]);
    assert!(text(&shown.stdout).contains("\"eventName\": \"ConsoleLogin\""));
    let ig = run(&[
        "ignore-result",
        id,
        "--by",
        "user,event",
        "--db",
        db,
        "--id",
        "root-drill",
        "--note",
        "quarterly drill",
    ]);
    assert!(ig.status.success(), "{}", text(&ig.stderr));
    let rescan = run(&["scan", "-q", "--db", db, "--output", "jsonl", samples]);
    assert!(
        !jsonl(&rescan)
            .iter()
            .any(|r| r["alert_id"] == "root-console-login"),
        "the ignore silences new matches"
    );
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&run(&["ignores", "list", "--db", db, "--output", "json"]).stdout)
            .unwrap();
    let ig = list.iter().find(|i| i["id"] == "root-drill").unwrap();
    assert_eq!(ig["silenced"], 1);
    assert_eq!(ig["user"], "root");
    // Removing the ignore does not resurrect old results but stops silencing new ones.
    assert!(
        run(&[
            "ignores",
            "remove",
            "root-drill",
            "--alert",
            "root-console-login",
            "--db",
            db
        ])
        .status
        .success()
    );
    let after = jsonl(&run(&[
        "scan", "-q", "--db", db, "--output", "jsonl", samples,
    ]));
    assert!(after.iter().any(|r| r["alert_id"] == "root-console-login"));
    assert_eq!(
        jsonl(&run(&[
            "results",
            "--db",
            db,
            "--alert",
            "root-console-login",
            "--output",
            "jsonl"
        ]))
        .len(),
        1
    );
}

#[test]
fn ignores_and_alert_state_live_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db = db.to_str().unwrap();
    let samples = samples();
    let samples = samples.to_str().unwrap();
    let add = run(&[
        "ignores",
        "add",
        "legacy-ci",
        "--db",
        db,
        "--user",
        "ci-legacy",
        "--note",
        "known noisy key",
    ]);
    assert!(add.status.success(), "{}", text(&add.stderr));
    assert_eq!(
        run(&["ignores", "add", "legacy-ci", "--db", db, "--user", "x"])
            .status
            .code(),
        Some(2),
        "duplicate id"
    );
    assert_eq!(
        run(&["ignores", "add", "bad", "--db", db, "--user", "[oops"])
            .status
            .code(),
        Some(2),
        "bad glob rejected"
    );
    assert!(
        run(&[
            "ignores",
            "edit",
            "legacy-ci",
            "--db",
            db,
            "--note",
            "rotating"
        ])
        .status
        .success()
    );
    let out = jsonl(&run(&[
        "scan", "-q", "--db", db, "--output", "jsonl", samples,
    ]));
    assert!(
        !out.iter().any(|r| r["user"] == "ci-legacy"),
        "the global ignore applies to every alert"
    );

    assert!(
        run(&[
            "alerts",
            "disable",
            "cis-4.1-unauthorized-api-calls",
            "--db",
            db
        ])
        .status
        .success()
    );
    assert!(
        run(&["alerts", "enable", "security-events-any", "--db", db])
            .status
            .success()
    );
    assert_eq!(
        run(&["alerts", "disable", "nope", "--db", db])
            .status
            .code(),
        Some(2)
    );
    let copy = run(&[
        "alerts",
        "copy",
        "cis-4.3-root-account-usage",
        "--id",
        "root-eu",
        "--db",
        db,
    ]);
    assert!(copy.status.success(), "{}", text(&copy.stderr));
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&run(&["alerts", "list", "--db", db, "--output", "json"]).stdout)
            .unwrap();
    let on = |id: &str| {
        listed
            .iter()
            .find(|a| a["id"] == id)
            .map(|a| a["enabled"] != false)
    };
    assert_eq!(on("cis-4.1-unauthorized-api-calls"), Some(false));
    assert_eq!(on("security-events-any"), Some(true));
    assert_eq!(on("root-eu"), Some(true));
    let exported: Vec<serde_json::Value> =
        serde_json::from_slice(&run(&["alerts", "export", "--db", db]).stdout).unwrap();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["id"], "root-eu");

    let f = dir.path().join("more.json");
    std::fs::write(
        &f,
        r#"[{"id":"sg-any","name":"SG","risk":"low","events":["AuthorizeSecurityGroupIngress"]}]"#,
    )
    .unwrap();
    assert!(
        run(&["alerts", "import", f.to_str().unwrap(), "--db", db])
            .status
            .success()
    );
    let default_copy = run(&["alerts", "copy", "cis-4.5-cloudtrail-changes", "--db", db]);
    assert!(
        default_copy.status.success(),
        "{}",
        text(&default_copy.stderr)
    );
    assert!(text(&default_copy.stdout).contains("cis-4.5-cloudtrail-changes-copy"));
    let unnamed = run(&[
        "ignores",
        "add",
        "--db",
        db,
        "--user",
        "deploy-bot",
        "--event",
        "CreateUser",
    ]);
    assert!(unnamed.status.success(), "{}", text(&unnamed.stderr));
    assert!(
        text(&run(&["ignores", "list", "--db", db, "--output", "json"]).stdout)
            .contains("\"event-CreateUser-user-deploy-bot\"")
    );
    std::fs::write(
        &f,
        r#"[{"id":"broken","name":"B","risk":"low","source_ips":{"include":["nope"]}}]"#,
    )
    .unwrap();
    assert_eq!(
        run(&["alerts", "import", f.to_str().unwrap(), "--db", db])
            .status
            .code(),
        Some(2)
    );
    let out = jsonl(&run(&[
        "scan", "-q", "--db", db, "--output", "jsonl", samples,
    ]));
    assert!(out.iter().any(|r| r["alert_id"] == "sg-any"));
    assert!(
        !out.iter()
            .any(|r| r["alert_id"] == "cis-4.1-unauthorized-api-calls")
    );
    assert!(out.iter().any(|r| r["alert_id"] == "root-eu"));
}

#[test]
fn a_foreign_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.txt");
    std::fs::write(
        &db,
        "hello, this is not a database at all, just some text that is long enough",
    )
    .unwrap();
    let out = run(&["results", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a SQLite database"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn scan_stops_when_stdout_closes_early() {
    // 40 files whose results (~15 MB of CSV) overflow any pipe buffer.
    let dir = std::env::temp_dir().join(format!("trailalerts-head-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in 0..40 {
        let recs: Vec<String> = (0..2000)
            .map(|k| format!(r#"{{"eventID":"e{f}-{k}","eventTime":"2024-05-01T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userIdentity":{{"type":"IAMUser","userName":"mallory"}}}}"#))
            .collect();
        std::fs::write(
            dir.join(format!("log-{f:02}.json")),
            format!("{{\"Records\":[{}]}}", recs.join(",")),
        )
        .unwrap();
    }
    let mut child = bin()
        .args(["scan", "--output", "csv", "--threads", "1"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert!(first.starts_with(b"id,alert_id"));
    drop(stdout); // like `| head -1` exiting
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(
        out.status.success(),
        "exit 0 when the reader goes away: {err}"
    );
    assert!(!err.contains("Broken pipe"), "{err}");
    let files: usize = err
        .split("Scanned ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        files < 40,
        "the scan stopped early, after {files} of 40 files"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
