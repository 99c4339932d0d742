//! Writes N generated CloudTrail events as JSON Lines to stdout (the benchmark corpus).
//! Usage: cargo run --release -p trailalerts-benches --example gen_events -- 100000 [alert-heavy|production] > events.jsonl
use std::io::Write;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mix = std::env::args()
        .nth(2)
        .map_or(Some(trailalerts_benches::Mix::AlertHeavy), |m| {
            trailalerts_benches::Mix::parse(&m)
        });
    let Some(mix) = mix else {
        eprintln!("mix: alert-heavy or production");
        std::process::exit(2);
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for e in trailalerts_benches::events_of(n, 42, mix) {
        if writeln!(out, "{e}").is_err() {
            return;
        }
    }
}
