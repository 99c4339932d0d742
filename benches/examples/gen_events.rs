//! Writes N generated CloudTrail events as JSON Lines to stdout (the benchmark corpus).
//! Usage: cargo run --release -p trailalerts-benches --example gen_events -- 100000 > events.jsonl
use std::io::Write;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for e in trailalerts_benches::events(n, 42) {
        if writeln!(out, "{e}").is_err() {
            return;
        }
    }
}
