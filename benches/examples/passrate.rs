//! How many events the byte prefilter (`Engine::may_match`) lets through, against how many
//! some alert's filters match (what a perfect prefilter would let through), for the bench alert
//! sets on 20,000 events of each mix.
//!
//! `cargo run --release -p trailalerts-benches --example passrate`
use trailalerts::Event;

fn main() {
    for mix in [
        trailalerts_benches::Mix::AlertHeavy,
        trailalerts_benches::Mix::Production,
    ] {
        let raw = trailalerts_benches::events_of(20_000, 42, mix);
        for (n, wide) in [
            (15, false),
            (25, false),
            (57, false),
            (500, false),
            (500, true),
        ] {
            let engine = match trailalerts_benches::engine_of(n, wide) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("engine: {e}");
                    std::process::exit(1);
                }
            };
            let pass = raw
                .iter()
                .filter(|r| engine.may_match(r.as_bytes()))
                .count();
            let mut found = Vec::new();
            let matched = raw
                .iter()
                .filter(|r| {
                    Event::parse(r).is_ok_and(|e| {
                        found.clear();
                        engine.matches(&e, &mut found);
                        !found.is_empty()
                    })
                })
                .count();
            let pct = |k: usize| k as f64 * 100.0 / raw.len() as f64;
            println!(
                "{mix:?}, {n} alerts{}: {:.1} % pass the prefilter, {:.1} % match an alert's filters",
                if wide { " (wide)" } else { "" },
                pct(pass),
                pct(matched)
            );
        }
    }
}
