//! Any text as alert definitions: loading and compiling must give a result or an error, never
//! a panic, and a loaded set must evaluate an event.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(b) = trailalerts::Engine::builder().builtin(false).alerts_json(text) else { return };
    let Ok(mut engine) = b.build() else { return };
    let ev = trailalerts::Event::parse(r#"{"eventName":"CreateUser","eventSource":"iam.amazonaws.com","sourceIPAddress":"203.0.113.1","userIdentity":{"type":"IAMUser","userName":"x"},"requestParameters":{"userName":"y"}}"#);
    if let Ok(ev) = ev {
        let _ = engine.evaluate(&ev);
    }
});
