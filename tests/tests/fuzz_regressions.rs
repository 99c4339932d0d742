//! Replays the fuzz seeds and every input a fuzz run ever crashed on (tests/fuzz/regressions/),
//! through the same code paths as the fuzz targets, on stable Rust.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::path::Path;

use trailalerts::{Engine, Event, FilterPattern, Records};
use trailalerts_tests::tests_dir;

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

fn records_events(data: &[u8], base: &Engine) {
    let mut one = base.clone();
    let mut texts = Vec::new();
    let mut a = Vec::new();
    for rec in Records::new(data).flatten() {
        let _ = one.evaluate_raw(rec.value, &mut a);
        texts.push(rec.raw.as_bytes());
    }
    let mut batch = base.clone();
    let mut b = Vec::new();
    let _ = batch.evaluate_batch_lenient(&texts, 2, &mut b);
    assert_eq!(
        a.iter().map(|r| &r.id).collect::<Vec<_>>(),
        b.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
}

#[test]
fn fuzz_seeds_and_regressions_replay_cleanly() {
    let base = Engine::builder().build().unwrap();
    let mut n = 0;
    for data in inputs("records_events") {
        records_events(&data, &base);
        n += 1;
    }
    for data in inputs("gzip_logs") {
        let (buf, _) = trailalerts_adapters::files::decode(data);
        records_events(&buf, &base);
        n += 1;
    }
    for data in inputs("alert_definitions") {
        if let Ok(text) = std::str::from_utf8(&data)
            && let Ok(b) = Engine::builder().builtin(false).alerts_json(text)
        {
            let _ = b.build();
        }
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
        if let Ok(text) = std::str::from_utf8(&data) {
            match trailalerts::detect_message(text) {
                trailalerts::MessageShape::Events(raws) => raws.iter().for_each(|r| {
                    let _ = Event::from_raw_value(r);
                }),
                trailalerts::MessageShape::S3Objects { objects, .. } => assert!(objects.iter().all(|o| trailalerts::skip_reason(&o.key).is_none())),
                _ => {}
            }
        }
        n += 1;
    }
    for data in inputs("glob_cidr") {
        if let Ok(text) = std::str::from_utf8(&data) {
            let (pattern, value) = text.split_once('\u{0}').unwrap_or((text, "value"));
            if let Ok(g) = trailalerts::Glob::new(pattern) {
                assert_eq!(g.is_match(value), g.is_match(&value.to_lowercase()));
            }
            let alert = serde_json::json!({"id": "f", "name": "f", "risk": "low", "users": [pattern],
                "source_ips": {"include": [value], "exclude": [pattern]}});
            if let Ok(b) = Engine::builder().builtin(false).alerts_json(&alert.to_string()) {
                let _ = b.build();
            }
        }
        n += 1;
    }
    for data in inputs("render") {
        trailalerts_tests::render_check::check(&data);
        n += 1;
    }
    assert!(
        n >= 10,
        "fuzz seeds missing under {}",
        Path::new("tests/fuzz").display()
    );
}
