//! Any text as a glob and as a CIDR in an alert definition (see `fuzz_checks::glob_cidr`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../src/fuzz_checks.rs"]
#[allow(dead_code, reason = "each target uses one of the shared checks")]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::glob_cidr(data));
