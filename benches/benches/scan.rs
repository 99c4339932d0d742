//! End to end over gzipped CloudTrail log files: inflate only; inflate + parse (the reference
//! the scan is measured against — a serde_json typed parse — and trailalerts' own one- and
//! two-pass readers); and
//! `scan_paths_on` with the CIS alerts, the full catalog, and the catalog plus 200 custom
//! alerts (on the generated calls, and spread over real API calls), on one thread (per core,
//! against the reference) and on every core. Method and results: benches/README.md.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trailalerts::{Engine, Event, Records};
use trailalerts_adapters::files::{read_log, scan_paths_on};
use trailalerts_benches::reference;

// As the CLI and the bindings run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[expect(clippy::panic, reason = "bench setup")]
fn fail(e: impl std::fmt::Display) -> ! {
    panic!("bench setup failed: {e}")
}

fn logs() -> (PathBuf, Vec<PathBuf>, u64, u64) {
    let testing = !std::env::args().any(|a| a == "--bench");
    let (files, per) = if testing { (2, 200) } else { (20, 5000) };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/bench-data/scan-{files}x{per}"));
    let all = trailalerts_benches::events(files * per, 42);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(e));
    let mut paths = Vec::new();
    let mut bytes = 0;
    for (i, chunk) in all.chunks(per).enumerate() {
        let path = dir.join(format!("log-{i:03}.json.gz"));
        let doc = format!("{{\"Records\":[{}]}}", chunk.join(","));
        bytes += doc.len() as u64;
        if !path.exists() {
            let f = std::fs::File::create(&path).unwrap_or_else(|e| fail(e));
            let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::default());
            enc.write_all(doc.as_bytes()).unwrap_or_else(|e| fail(e));
            enc.finish().unwrap_or_else(|e| fail(e));
        }
        paths.push(path);
    }
    (dir, paths, bytes, (files * per) as u64)
}

fn bench(c: &mut Criterion) {
    let (dir, paths, bytes, events) = logs();
    let cis: Vec<_> = trailalerts::builtin_alerts()
        .into_iter()
        .filter(|a| a.id.starts_with("cis-"))
        .collect();
    // The reference must read every event of the corpus.
    let parsed: u64 = paths
        .iter()
        .filter_map(|p| read_log(p).ok())
        .filter_map(|(buf, _)| {
            serde_json::from_slice::<reference::Log<'_>>(&buf)
                .ok()
                .map(|l| l.records.len() as u64)
        })
        .sum();
    if parsed != events {
        fail(format!(
            "the reference parse read {parsed} of {events} events"
        ));
    }
    let mut g = c.benchmark_group("gz_logs");
    g.throughput(Throughput::Elements(events));
    g.sample_size(10);
    g.bench_function("inflate", |b| {
        b.iter(|| {
            paths
                .iter()
                .map(|p| read_log(p).map_or(0, |(buf, _)| buf.len()))
                .sum::<usize>()
        })
    });
    // The reference the goals name: inflate, then a typed, borrowing serde_json parse of the
    // fields rules need, of each file as a whole (`{"Records":[…]}`), with the nested
    // objects kept raw: what one writes with the standard libraries.
    g.bench_function("inflate_parse_reference", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in &paths {
                let Ok((buf, _)) = read_log(p) else { continue };
                if let Ok(log) = serde_json::from_slice::<reference::Log<'_>>(&buf) {
                    n += log
                        .records
                        .iter()
                        .filter(|r| black_box(r).event_name.is_some())
                        .count();
                }
            }
            n
        });
    });
    // trailalerts' own fastest full read: every record read into an `Event` in one pass
    // (`Records::next_event`, what a scan does once its prefilter is off).
    g.bench_function("inflate_parse_one_pass", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in &paths {
                let Ok((buf, _)) = read_log(p) else { continue };
                let mut records = Records::new(&buf);
                while let Some(item) = records.next_event() {
                    if let Ok((ev, _)) = item {
                        n += usize::from(black_box(ev.event_name()).is_some());
                    }
                }
            }
            n
        });
    });
    // Two passes: delimit each record as a serde_json `RawValue`, then read it into an `Event`.
    g.bench_function("inflate_parse_two_pass", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in &paths {
                let Ok((buf, _)) = read_log(p) else { continue };
                for rec in Records::new(&buf).flatten() {
                    if let Ok(ev) = Event::from_raw_value(rec.value) {
                        n += usize::from(black_box(ev.event_name()).is_some());
                    }
                }
            }
            n
        });
    });
    // The catalog plus 200 custom alerts, all watching the generated events' calls (the
    // index's worst case), or spread over real API calls as a deployment's are (`wide`).
    let plus = |custom: String| {
        let mut all = trailalerts::builtin_alerts();
        all.extend(
            trailalerts::AlertDef::parse_many(&custom, &trailalerts::builtin_alerts())
                .unwrap_or_else(|e| fail(e)),
        );
        all
    };
    let plus_custom = plus(trailalerts_benches::custom_alerts(200, 7));
    let plus_wide = plus(trailalerts_benches::custom_alerts_wide(200, 7));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    for (label, defs, threads) in [
        ("scan_cis/1_thread", cis.clone(), 1),
        ("scan_cis/all_cores", cis, cores),
        (
            "scan_full_catalog/1_thread",
            trailalerts::builtin_alerts(),
            1,
        ),
        (
            "scan_full_catalog/all_cores",
            trailalerts::builtin_alerts(),
            cores,
        ),
        ("scan_catalog_plus_200/1_thread", plus_custom.clone(), 1),
        ("scan_catalog_plus_200/all_cores", plus_custom, cores),
        ("scan_catalog_plus_200_wide/1_thread", plus_wide.clone(), 1),
        ("scan_catalog_plus_200_wide/all_cores", plus_wide, cores),
    ] {
        g.bench_function(label, |b| {
            b.iter(|| {
                let mut engine = Engine::builder()
                    .builtin(false)
                    .alerts(defs.clone())
                    .build()
                    .unwrap_or_else(|e| fail(e));
                let mut n = 0usize;
                let _ = scan_paths_on(
                    threads,
                    &mut engine,
                    std::slice::from_ref(&dir),
                    &mut |_| n += 1,
                    &mut |_| {},
                    &mut |_, _, _| {},
                    None,
                );
                n
            });
        });
    }
    g.finish();
    let _ = bytes;
}

criterion_group!(benches, bench);
criterion_main!(benches);
