//! Any bytes as a log file: split into records, parse, prefilter and evaluate with the full
//! catalog. Must never panic; the batch and one-by-one paths must agree.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trailalerts::Engine;

#[path = "../../src/fuzz_checks.rs"]
#[allow(dead_code, reason = "each target uses one of the shared checks")]
mod fuzz_checks;

static ENGINE: OnceLock<Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let base = ENGINE.get_or_init(|| Engine::builder().build().unwrap_or_else(|e| panic!("{e}")));
    fuzz_checks::records_events(data, base);
});
