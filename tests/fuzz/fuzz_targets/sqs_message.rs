//! Any SQS message body: shape detection never panics, and what it extracts is usable.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../src/fuzz_checks.rs"]
#[allow(dead_code, reason = "each target uses one of the shared checks")]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::sqs_message(data));
