//! Writes generated CloudTrail log files (`{"Records":[...]}`, gzipped) for end-to-end scans.
//! Usage: cargo run --release -p trailalerts-benches --example gen_logs -- DIR FILES EVENTS_PER_FILE [alert-heavy|production]
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "target/bench-logs".into()),
    );
    let files: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let per: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2000);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let mix = args
        .get(4)
        .map_or(Some(trailalerts_benches::Mix::AlertHeavy), |m| {
            trailalerts_benches::Mix::parse(m)
        });
    let Some(mix) = mix else {
        eprintln!("mix: alert-heavy or production");
        std::process::exit(2);
    };
    let all = trailalerts_benches::events_of(files * per, 42, mix);
    for (i, chunk) in all.chunks(per).enumerate() {
        let doc = format!("{{\"Records\":[{}]}}", chunk.join(","));
        let Ok(f) = std::fs::File::create(
            dir.join(format!("111122223333_CloudTrail_us-east-1_{i:05}.json.gz")),
        ) else {
            return;
        };
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        if enc.write_all(doc.as_bytes()).is_err() || enc.finish().is_err() {
            return;
        }
    }
}
