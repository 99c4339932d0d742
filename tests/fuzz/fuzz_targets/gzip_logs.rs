//! Any bytes as a (possibly gzipped) log file: inflate, then read the records.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (buf, _damage) = trailalerts_adapters::files::decode(data.to_vec());
    for rec in trailalerts::Records::new(&buf).flatten() {
        let _ = trailalerts::Event::from_raw_value(rec.value);
    }
});
