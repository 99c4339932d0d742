//! Prints how many results the benchmark corpus produces per alert set (for benches/README.md).
fn main() {
    let raw = trailalerts_benches::events(20_000, 42);
    let bytes: usize = raw.iter().map(String::len).sum();
    println!(
        "corpus: {} events, mean {} bytes",
        raw.len(),
        bytes / raw.len()
    );
    for custom in [10usize, 485] {
        let mut b = trailalerts::Engine::builder();
        b = b
            .alerts_json(&trailalerts_benches::custom_alerts(custom, 7))
            .unwrap_or_else(|e| panic_any(e));
        let mut e = b.build().unwrap_or_else(|e| panic_any(e));
        let mut n = 0;
        for r in &raw {
            if let Ok(ev) = trailalerts::Event::parse(r) {
                n += e.evaluate(&ev).len();
            }
        }
        println!(
            "{} alerts: {} results for {} events ({:?})",
            e.alerts().count(),
            n,
            raw.len(),
            e.stats()
        );
    }
}
#[expect(clippy::panic, reason = "example")]
fn panic_any(e: impl std::fmt::Display) -> ! {
    panic!("{e}")
}
