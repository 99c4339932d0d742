//! Any text as alert definitions: loading and compiling must give a result or an error, never
//! a panic, a loaded set must evaluate events, and the prefilter never rules out a match (see
//! `fuzz_checks::alert_definitions`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../src/fuzz_checks.rs"]
#[allow(dead_code, reason = "each target uses one of the shared checks")]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::alert_definitions(data));
