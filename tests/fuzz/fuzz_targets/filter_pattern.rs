//! Any text as a CloudWatch filter pattern: parse, then evaluate against events.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trailalerts::{Event, FilterPattern};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = FilterPattern::parse(text) else {
        return;
    };
    for raw in [
        r#"{"eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"No"},"n":5,"z":null,"a":[{"b":"c"}]}"#,
        r#"{"eventName":"X","errorCode":"AccessDenied","userIdentity":{"type":"Root"}}"#,
    ] {
        if let Ok(ev) = Event::parse(raw) {
            let _ = p.matches(&ev);
        }
    }
    let _ = p.event_names();
    let _ = p.required_literals();
});
