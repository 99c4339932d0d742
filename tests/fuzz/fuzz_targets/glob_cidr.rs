//! Any text as a glob and as a CIDR in an alert definition: compilation either succeeds or
//! gives an error naming the field; matching never panics and agrees with case folding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trailalerts::{Engine, Event, Glob};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern, value) = text.split_once('\u{0}').unwrap_or((text, "value"));
    if let Ok(g) = Glob::new(pattern) {
        let a = g.is_match(value);
        // Matching ignores case: the lowercased value matches the same way.
        assert_eq!(a, g.is_match(&value.to_lowercase()), "{pattern:?} on {value:?}");
        let _ = g.literal_prefix();
        let _ = g.longest_literal();
    }
    let alert = serde_json::json!({"id": "f", "name": "f", "risk": "low", "users": [pattern],
        "source_ips": {"include": [value], "exclude": [pattern]}});
    match Engine::builder().builtin(false).alerts_json(&alert.to_string()) {
        Ok(b) => match b.build() {
            Ok(mut e) => {
                let ev = serde_json::json!({"eventName": "X", "sourceIPAddress": value, "userIdentity": {"userName": value}}).to_string();
                if let Ok(ev) = Event::parse(&ev) {
                    let _ = e.evaluate(&ev);
                }
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        },
        Err(err) => assert!(err.to_string().contains('f'), "{err}"),
    }
});
