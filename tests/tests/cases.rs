//! Runs the data-driven case files in `tests/cases/`: alerts + events + expected results, or
//! alerts + the load error they must produce. Adding a case needs no Rust.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use serde::Deserialize;
use serde_json::Value;
use trailalerts::{Engine, Event, IgnoreDef};
use trailalerts_tests::{json_files, tests_dir};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[serde(default)]
    builtin: bool,
    #[serde(default)]
    alerts: Vec<Value>,
    #[serde(default)]
    global_ignores: Vec<IgnoreDef>,
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default)]
    expect: Option<Vec<Expected>>,
    #[serde(default)]
    expect_error: Option<ExpectedError>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Expected {
    alert_id: String,
    event_id: String,
    #[serde(default)]
    count: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    alert_id: String,
    field: String,
    contains: String,
}

fn engine(case: &Case) -> Result<Engine, trailalerts::AlertError> {
    let mut b = Engine::builder().builtin(case.builtin);
    if !case.alerts.is_empty() {
        b = b.alerts_json(&serde_json::to_string(&case.alerts).unwrap())?;
    }
    for ig in &case.global_ignores {
        b = b.global_ignore(ig.clone());
    }
    b.build()
}

fn run_case(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap();
    let case: Case = serde_json::from_str(&text).map_err(|e| format!("bad case file: {e}"))?;
    match (&case.expect, &case.expect_error) {
        (Some(expect), None) => {
            let mut engine = engine(&case)
                .map_err(|e| format!("{}: engine failed to build: {e}", case.description))?;
            let mut got = Vec::new();
            for ev in &case.events {
                let raw = serde_json::to_string(ev).unwrap();
                let parsed =
                    Event::parse(&raw).map_err(|e| format!("event does not parse: {e}"))?;
                for r in engine.evaluate(&parsed) {
                    got.push(Expected {
                        alert_id: r.alert_id,
                        event_id: r.event_id,
                        count: r.count,
                    });
                }
            }
            if &got != expect {
                return Err(format!(
                    "{}\n  expected {expect:?}\n       got {got:?}",
                    case.description
                ));
            }
            Ok(())
        }
        (None, Some(want)) => match engine(&case) {
            Ok(_) => Err(format!(
                "{}: expected a load error, the alerts loaded",
                case.description
            )),
            Err(e) => {
                let msg = e.to_string();
                if e.alert_id() != want.alert_id
                    || e.field() != want.field
                    || !msg.contains(&want.contains)
                {
                    return Err(format!(
                        "{}: expected alert `{}` field `{}` containing `{}`, got alert `{}` field `{}`: {msg}",
                        case.description,
                        want.alert_id,
                        want.field,
                        want.contains,
                        e.alert_id(),
                        e.field()
                    ));
                }
                Ok(())
            }
        },
        _ => Err("a case needs exactly one of `expect` and `expect_error`".into()),
    }
}

#[test]
fn all_case_files_pass() {
    // `cases/builtin/` has its own format and runner (tests/catalog.rs).
    let files: Vec<_> = json_files(&tests_dir().join("cases"))
        .into_iter()
        .filter(|f| !f.starts_with(tests_dir().join("cases/builtin")))
        .collect();
    assert!(
        files.len() >= 20,
        "case files missing: found {}",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| run_case(f).err().map(|e| format!("{}: {e}", f.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
