//! Any SQS message body: shape detection never panics, and what it extracts is usable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trailalerts::{Event, MessageShape, detect_message};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match detect_message(text) {
        MessageShape::Events(raws) => {
            for r in raws {
                let _ = Event::from_raw_value(&r);
            }
        }
        MessageShape::S3Objects { objects, skipped } => {
            for o in objects {
                assert!(trailalerts::skip_reason(&o.key).is_none());
            }
            for (k, _) in skipped {
                assert!(trailalerts::skip_reason(&k).is_some());
            }
        }
        MessageShape::Ignorable(_) | MessageShape::Unknown(_) => {}
    }
});
