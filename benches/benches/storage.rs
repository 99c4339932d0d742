//! SQLite storage at 1M stored results: batched inserts and typical queries.
//! Method and results: benches/README.md.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trailalerts::{AlertResult, ResultQuery, Risk, SortField, Storage};
use trailalerts_adapters::sqlite::SqliteStorage;

/// 1M stored results when benchmarking; a small database when `cargo test` runs benches as tests.
fn total() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        2_000
    }
}

#[expect(clippy::panic, reason = "bench setup")]
fn fail(e: impl std::fmt::Display) -> ! {
    panic!("bench setup failed: {e}")
}

/// A realistic result; `i` varies alert, user, region, time and source.
fn result(template: &AlertResult, i: usize) -> AlertResult {
    let mut r = template.clone();
    r.id = format!("{i:032x}");
    r.alert_id = format!("alert-{}", i % 57);
    r.risk = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical][i % 4];
    r.event_id = format!("ev-{i}");
    let t = 1_700_000_000_000i64 + (i as i64) * 2_000;
    r.event_time = Some(trailalerts::format_epoch_ms(t));
    r.user = format!("user-{}", i % 500);
    r.region = Some(["us-east-1", "eu-west-1", "ap-southeast-2"][i % 3].to_owned());
    r.source_ip = Some(format!("198.51.{}.{}", (i / 256) % 256, i % 256));
    r
}

fn template() -> AlertResult {
    let raw = trailalerts_benches::events(1, 5)
        .pop()
        .unwrap_or_else(|| fail("no event"));
    let ev = trailalerts::Event::parse(&raw).unwrap_or_else(|e| fail(e));
    let mut engine = trailalerts::Engine::builder()
        .builtin(false)
        .alerts_json(r#"{"id":"any","name":"Any","risk":"low"}"#)
        .unwrap_or_else(|e| fail(e))
        .build()
        .unwrap_or_else(|e| fail(e));
    let mut r = engine
        .evaluate(&ev)
        .pop()
        .unwrap_or_else(|| fail("no result"));
    r.raw = Arc::clone(&r.raw);
    r
}

fn million_db(t: &AlertResult) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(e));
    let path = dir.join(format!("results-{}.db", total()));
    let mut s = SqliteStorage::open(&path).unwrap_or_else(|e| fail(e));
    let have = s.count_results().unwrap_or_else(|e| fail(e)) as usize;
    for start in (have..total()).step_by(10_000) {
        let batch: Vec<AlertResult> = (start..(start + 10_000).min(total()))
            .map(|i| result(t, i))
            .collect();
        s.save_results(&batch, "2026-11-26T00:00:00Z")
            .unwrap_or_else(|e| fail(e));
    }
    path
}

fn bench(c: &mut Criterion) {
    let t = template();
    let path = million_db(&t);
    let store = SqliteStorage::open(&path).unwrap_or_else(|e| fail(e));

    let mut g = c.benchmark_group("sqlite_insert");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(10);
    let dir = std::env::temp_dir().join(format!("trailalerts-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(e));
    let mut fresh = SqliteStorage::open(dir.join("insert.db")).unwrap_or_else(|e| fail(e));
    let mut next = total();
    g.bench_function("batch_of_1000", |b| {
        b.iter(|| {
            let batch: Vec<AlertResult> = (next..next + 1000).map(|i| result(&t, i)).collect();
            next += 1000;
            fresh
                .save_results(black_box(&batch), "2026-11-26T00:00:00Z")
                .unwrap_or_else(|e| fail(e))
        });
    });
    g.finish();

    let mut g = c.benchmark_group("sqlite_query_1m");
    g.sample_size(20);
    let store = &store;
    let page = |q: ResultQuery| {
        move || {
            store
                .query_results(black_box(&q))
                .unwrap_or_else(|e| fail(e))
                .results
                .len()
        }
    };
    let typical = ResultQuery {
        alert_ids: vec!["alert-7".into()],
        since: Some("2023-11-20T00:00:00Z".into()),
        until: Some("2023-12-10T00:00:00Z".into()),
        sort: SortField::EventTime,
        desc: true,
        limit: 50,
        ..ResultQuery::default()
    };
    let mut f = page(typical);
    g.bench_function("alert_time_range_newest_50", |b| b.iter(&mut f));
    let mut f = page(ResultQuery {
        risks: vec![Risk::Critical],
        sort: SortField::EventTime,
        desc: true,
        limit: 50,
        ..ResultQuery::default()
    });
    g.bench_function("critical_newest_50", |b| b.iter(&mut f));
    let mut f = page(ResultQuery {
        user: Some("user-42".into()),
        region: Some("eu-*".into()),
        sort: SortField::EventTime,
        desc: true,
        limit: 50,
        ..ResultQuery::default()
    });
    g.bench_function("user_and_region_glob_newest_50", |b| b.iter(&mut f));
    let mut f = page(ResultQuery {
        sort: SortField::User,
        limit: 50,
        ..ResultQuery::default()
    });
    g.bench_function("sorted_by_user_first_50", |b| b.iter(&mut f));
    let id = format!("{:032x}", 123_456);
    g.bench_function("get_one_by_id", |b| {
        b.iter(|| store.get_result(black_box(&id)).map(|r| r.result.count))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
