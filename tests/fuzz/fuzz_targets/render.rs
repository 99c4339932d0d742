//! Attacker-chosen event text through every notification renderer: each output must stay
//! well-formed and inert (see `fuzz_checks::render`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../src/fuzz_checks.rs"]
#[allow(dead_code, reason = "each target uses one of the shared checks")]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::render(data));
