//! Replays the fuzz seeds and every input a fuzz run ever crashed on (tests/fuzz/regressions/),
//! through the same code paths as the fuzz targets, on stable Rust.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::path::Path;

use trailalerts::{Engine, Event, FilterPattern};
use trailalerts_tests::{fuzz_checks, tests_dir};

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let d = tests_dir().join("fuzz").join(dir).join(target);
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n != ".keep") && p.is_file() {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn fuzz_seeds_and_regressions_replay_cleanly() {
    let base = Engine::builder().build().unwrap();
    let mut n = 0;
    for data in inputs("records_events") {
        fuzz_checks::records_events(&data, &base);
        n += 1;
    }
    for data in inputs("gzip_logs") {
        let (buf, _) = trailalerts_adapters::files::decode(data);
        fuzz_checks::records_events(&buf, &base);
        n += 1;
    }
    for data in inputs("alert_definitions") {
        fuzz_checks::alert_definitions(&data);
        n += 1;
    }
    for data in inputs("filter_pattern") {
        if let Ok(text) = std::str::from_utf8(&data)
            && let Ok(p) = FilterPattern::parse(text)
        {
            let ev = Event::parse(
                r#"{"eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"No"}}"#,
            )
            .unwrap();
            let _ = p.matches(&ev);
        }
        n += 1;
    }
    for data in inputs("sqs_message") {
        fuzz_checks::sqs_message(&data);
        n += 1;
    }
    for data in inputs("glob_cidr") {
        fuzz_checks::glob_cidr(&data);
        n += 1;
    }
    for data in inputs("render") {
        fuzz_checks::render(&data);
        n += 1;
    }
    assert!(
        n >= 10,
        "fuzz seeds missing under {}",
        Path::new("tests/fuzz").display()
    );
}
