//! Any bytes as a log file: split into records, parse, prefilter and evaluate with the full
//! catalog. Must never panic; the batch and one-by-one paths must agree.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trailalerts::{Engine, Records};

static ENGINE: OnceLock<Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let base = ENGINE.get_or_init(|| Engine::builder().build().unwrap_or_else(|e| panic!("{e}")));
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
    let ids = |v: &[trailalerts::AlertResult]| v.iter().map(|r| (r.alert_id.clone(), r.event_id.clone())).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    for r in &a {
        let line = r.to_json_line();
        assert!(!line.contains('\n'));
        assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok());
    }
});
