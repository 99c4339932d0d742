//! Evaluation throughput over a realistic event mix, with 25, 200 and 500 alerts.
//! Method and results: benches/README.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use trailalerts::{Engine, Event};
use trailalerts_benches::{engine_of, events};

const N: usize = 20_000;

// As the CLI and the bindings run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The alert sets: 25 alerts, 200 and 500 alerts whose custom alerts all watch the generated
/// events' calls (the index's worst case), and 500 whose custom alerts spread over real API
/// calls.
const SETS: [(&str, usize, bool); 4] = [
    ("25_alerts", 25, false),
    ("200_alerts", 200, false),
    ("500_alerts", 500, false),
    ("500_alerts_wide", 500, true),
];

fn engine(total: usize, wide: bool) -> Engine {
    engine_of(total, wide).unwrap_or_else(|e| unreachable(e))
}

#[expect(clippy::panic, reason = "bench setup")]
fn unreachable(e: impl std::fmt::Display) -> ! {
    panic!("bench setup failed: {e}")
}

/// One benchmark per alert set of `pass` (which returns the number of results). Every pass
/// starts from a copy of the engine as built: fed the same events again, its thresholds would
/// count each event twice and fire more than on any stream.
fn per_set(
    c: &mut Criterion,
    group: &str,
    throughput: Throughput,
    mut pass: impl FnMut(&mut Engine) -> usize,
) {
    let mut g = c.benchmark_group(group);
    g.throughput(throughput);
    for (label, total, wide) in SETS {
        let built = engine(total, wide);
        g.bench_function(label, |b| {
            b.iter_batched_ref(|| built.clone(), &mut pass, BatchSize::PerIteration)
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let raw = events(N, 42);
    let bytes: usize = raw.iter().map(String::len).sum();
    let parsed: Vec<Event<'_>> = raw
        .iter()
        .map(|r| Event::parse(r).unwrap_or_else(|e| unreachable(e)))
        .collect();

    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("event", |b| {
        b.iter(|| {
            raw.iter()
                .filter(|r| Event::parse(black_box(r)).is_ok_and(|e| e.time_ms().is_some()))
                .count()
        })
    });
    g.finish();

    per_set(c, "evaluate", Throughput::Elements(N as u64), |eng| {
        let mut out = Vec::new();
        let mut n = 0;
        for ev in &parsed {
            // Fresh Event state per pass would re-parse; the lazily parsed subtrees are
            // cached after the first pass, as they would be within one evaluation.
            eng.evaluate_into(black_box(ev), &mut out);
            n += out.len();
            out.clear();
        }
        n
    });

    per_set(
        c,
        "parse_and_evaluate",
        Throughput::Bytes(bytes as u64),
        |eng| {
            let mut out = Vec::new();
            let mut n = 0;
            for r in &raw {
                if let Ok(ev) = Event::parse(black_box(r)) {
                    eng.evaluate_into(&ev, &mut out);
                    n += out.len();
                    out.clear();
                }
            }
            n
        },
    );

    // The path the bindings and `watch` take: skip the parse when no alert can match.
    per_set(
        c,
        "prefilter_parse_evaluate",
        Throughput::Bytes(bytes as u64),
        |eng| {
            let mut out = Vec::new();
            let mut n = 0;
            for r in &raw {
                if eng.evaluate_text(black_box(r), &mut out).is_ok() {
                    n += out.len();
                    out.clear();
                }
            }
            n
        },
    );

    // Threshold state: 1M observations spread over 10k (alert, user) groups, 20 in 60 s, with
    // room for every group, and with room for only 1,000 (the oldest groups are evicted).
    let mut g = c.benchmark_group("thresholds");
    const OBS: usize = 1_000_000;
    g.throughput(Throughput::Elements(OBS as u64));
    let groups: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
    for (label, max) in [("10k_groups", 100_000usize), ("10k_groups_1k_room", 1_000)] {
        g.bench_function(label, |b| {
            b.iter(|| {
                let mut t = trailalerts::ThresholdTracker::new(max);
                let mut fired = 0usize;
                for i in 0..OBS {
                    let user = groups
                        .get((i * 7919) % groups.len())
                        .map_or("", String::as_str);
                    let at = (i as i64) * 5; // 200 observations per second of event time
                    fired += usize::from(t.observe("burst", user, at, 20, 60_000).is_some());
                }
                fired
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
