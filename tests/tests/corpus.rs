//! Real CloudTrail records (tests/data/corpus, see SOURCES.md) through the reader and engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::collections::BTreeMap;

use trailalerts::{Engine, Event, Records};
use trailalerts_tests::tests_dir;

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(tests_dir().join("data/corpus").join(name)).unwrap()
}

/// (events parsed, bad records, results by alert id)
fn scan(buf: &[u8]) -> (usize, usize, BTreeMap<String, usize>) {
    let mut engine = Engine::builder().build().unwrap();
    let (mut ok, mut bad) = (0, 0);
    let mut by_alert = BTreeMap::new();
    for rec in Records::new(buf) {
        let Ok(rec) = rec else {
            bad += 1;
            continue;
        };
        match Event::parse(rec.raw) {
            Ok(ev) => {
                ok += 1;
                for r in engine.evaluate(&ev) {
                    *by_alert.entry(r.alert_id).or_insert(0) += 1;
                }
            }
            Err(_) => bad += 1,
        }
    }
    (ok, bad, by_alert)
}

#[test]
fn every_stratus_record_parses() {
    let dir = tests_dir().join("data/corpus/stratus-red-team");
    let mut total = 0;
    for f in std::fs::read_dir(dir).unwrap() {
        let buf = std::fs::read(f.unwrap().path()).unwrap();
        let (ok, bad, _) = scan(&buf);
        assert_eq!(bad, 0);
        total += ok;
    }
    assert_eq!(total, 310, "SOURCES.md counts 310 Stratus records");
}

#[test]
fn stratus_detonations_fire_the_matching_cis_alerts() {
    for (file, alert) in [
        (
            "aws.initial-access.console-login-without-mfa.json",
            "cis-4.2-console-login-without-mfa",
        ),
        (
            "aws.defense-evasion.cloudtrail-stop.json",
            "cis-4.5-cloudtrail-changes",
        ),
        (
            "aws.defense-evasion.cloudtrail-delete.json",
            "cis-4.5-cloudtrail-changes",
        ),
        (
            "aws.exfiltration.ec2-security-group-open-port-22-ingress.json",
            "cis-4.10-security-group-changes",
        ),
        (
            "aws.persistence.iam-create-admin-user.json",
            "cis-4.4-iam-policy-changes",
        ),
    ] {
        let (_, _, by_alert) = scan(&corpus(&format!("stratus-red-team/{file}")));
        assert!(
            by_alert.get(alert).copied().unwrap_or(0) >= 1,
            "{file} should fire {alert}: {by_alert:?}"
        );
    }
}

#[test]
fn logstash_shaped_records_use_at_timestamp() {
    let buf = corpus("otrf_ec2_proxy_s3_exfiltration.jsonl");
    let mut timed = 0;
    let mut n = 0;
    for rec in Records::new(&buf) {
        let ev = Event::parse(rec.unwrap().raw).unwrap();
        n += 1;
        if ev.time_ms().is_some() {
            timed += 1;
        }
    }
    assert_eq!(n, 103);
    assert_eq!(timed, 103, "every OTRF record has an @timestamp");
}

#[test]
fn aws_doc_fragments_are_reported_not_fatal() {
    let buf = corpus("awsdocs_examples.jsonl");
    let mut bad_lines = Vec::new();
    let mut good = 0;
    for rec in Records::new(&buf) {
        let rec = rec.unwrap();
        match Event::parse(rec.raw) {
            Ok(_) => good += 1,
            Err(e) => {
                assert!(e.contains("eventName"), "{e}");
                bad_lines.push(rec.position.line.unwrap());
            }
        }
    }
    assert_eq!(good + bad_lines.len(), 36);
    assert!(
        !bad_lines.is_empty() && good >= 25,
        "good {good}, bad at lines {bad_lines:?}"
    );
}

#[test]
fn root_examples_from_aws_docs_fire_root_usage() {
    let (_, _, by_alert) = scan(&corpus("awsdocs_examples.jsonl"));
    assert!(
        by_alert
            .get("cis-4.3-root-account-usage")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{by_alert:?}"
    );
}
