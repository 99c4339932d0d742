//! Times `Engine::evaluate_batch` over a JSON Lines file, as the bindings' `evaluate_many` does.
//!
//! `cargo run --release -p trailalerts-benches --example batch -- EVENTS.jsonl [THREADS] [ROUNDS] [ALERTS]`
//! ALERTS: `cis` (default), `catalog`, or a number N: the catalog plus N generated custom alerts.
use std::time::Instant;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: batch EVENTS.jsonl [THREADS] [ROUNDS]");
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let buf = std::fs::read(path).unwrap_or_else(|e| fail(path, e));
    let cis: Vec<_> = match args.get(4).map(String::as_str) {
        None | Some("cis") => trailalerts::builtin_alerts()
            .into_iter()
            .filter(|a| a.id.starts_with("cis-"))
            .collect(),
        Some("catalog") => trailalerts::builtin_alerts(),
        Some(n) => {
            let mut all = trailalerts::builtin_alerts();
            let n = n.parse().unwrap_or_else(|e| fail("ALERTS", e));
            let custom = trailalerts_benches::custom_alerts(n, 7);
            all.extend(
                trailalerts::AlertDef::parse_many(&custom, &trailalerts::builtin_alerts())
                    .unwrap_or_else(|e| fail("custom alerts", e)),
            );
            all
        }
    };
    let mut best = f64::MAX;
    let mut n = 0;
    for _ in 0..rounds {
        let mut engine = trailalerts::Engine::builder()
            .builtin(false)
            .alerts(cis.clone())
            .build()
            .unwrap_or_else(|e| fail("engine", e));
        let t = Instant::now();
        let lines = trailalerts::jsonl_lines(&buf);
        let texts: Vec<&[u8]> = lines.iter().map(|l| l.1).collect();
        let mut out = Vec::new();
        engine
            .evaluate_batch(&texts, threads, &mut out)
            .expect("valid events");
        best = best.min(t.elapsed().as_secs_f64());
        n = out.len();
        std::hint::black_box(&out);
        let _ = texts.len();
    }
    let events = trailalerts::jsonl_lines(&buf).len();
    println!(
        "{events} events, {n} results, {threads} threads: {:.0} events/s",
        events as f64 / best
    );
}
