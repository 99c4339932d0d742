//! Attacker-chosen event text through every notification renderer: each output must stay
//! well-formed and inert (no Slack markup, single-line syslog with valid structured data,
//! CEF with exactly eight header fields, valid JSON, single-line subjects, escaped HTML).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../src/render_check.rs"]
mod render_check;

fuzz_target!(|data: &[u8]| render_check::check(data));
