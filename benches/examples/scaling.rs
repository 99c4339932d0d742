//! How the cost per event grows with the number of alerts: parse + evaluate 20,000 events (the
//! alert-heavy or the production mix) one at a time with 25 and with N alerts (default 500),
//! alternating, best of ROUNDS.
//! Both the typed-parse path (`Event::parse` + `evaluate_into`) and the path scans, `watch` and
//! the bindings take (`evaluate_text`: prefilter, parse, evaluate) are timed.
//!
//! The N-alert set is the catalog plus custom alerts on the generated events' 27 calls (the
//! worst case for the index), or with `wide` on calls spread over 274 real API calls.
//!
//! `cargo run --release -p trailalerts-benches --example scaling -- [N] [ROUNDS] [alert-heavy|production] [wide]`
use std::hint::black_box;
use std::time::Instant;

use trailalerts::Event;

// As the CLI and the bindings run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(15);
    let mix = match args.get(3).map(String::as_str) {
        None | Some("alert-heavy") => trailalerts_benches::Mix::AlertHeavy,
        Some("production") => trailalerts_benches::Mix::Production,
        Some(other) => fail("mix", other),
    };
    let raw = trailalerts_benches::events_of(20_000, 42, mix);
    let wide = args.get(4).is_some_and(|a| a == "wide");
    let engines = [25, n]
        .map(|t| trailalerts_benches::engine_of(t, wide).unwrap_or_else(|e| fail("engine", e)));
    // best[engine][path] in seconds; results[engine]
    let mut best = [[f64::MAX; 2]; 2];
    let mut results = [0usize; 2];
    for _ in 0..rounds {
        for (k, engine) in engines.iter().enumerate() {
            // Each timed pass starts from the engine as built: fed the same events again, its
            // thresholds would count every event twice and fire more than on any stream.
            let mut eng = engine.clone();
            let mut out = Vec::new();
            let t = Instant::now();
            let mut count = 0;
            for r in &raw {
                if let Ok(ev) = Event::parse(black_box(r)) {
                    eng.evaluate_into(&ev, &mut out);
                    count += out.len();
                    out.clear();
                }
            }
            let dt = t.elapsed().as_secs_f64();
            best[k][0] = best[k][0].min(dt);
            results[k] = count;
            let mut eng = engine.clone();
            let t = Instant::now();
            for r in &raw {
                if eng.evaluate_text(black_box(r), &mut out).is_ok() {
                    out.clear();
                }
            }
            best[k][1] = best[k][1].min(t.elapsed().as_secs_f64());
        }
    }
    let per = |s: f64| s * 1e6 / raw.len() as f64;
    println!(
        "results per event: 25 alerts {:.2}, {n} alerts {:.2}",
        results[0] as f64 / raw.len() as f64,
        results[1] as f64 / raw.len() as f64
    );
    for (p, label) in ["parse + evaluate_into", "evaluate_text"]
        .iter()
        .enumerate()
    {
        let (a, b) = (best[0][p], best[1][p]);
        println!(
            "{label:>22}: 25 alerts {:.2} µs/event, {n} alerts {:.2} µs/event: {:.2}×",
            per(a),
            per(b),
            b / a
        );
    }
}
