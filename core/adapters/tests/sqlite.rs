//! The SQLite storage: conformance kit, restarts, bad files, full disk, concurrent readers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use trailalerts::{Batch, Engine, Event, IgnoreDef, ResultQuery, Storage, testkit};
use trailalerts_adapters::sqlite::{SCHEMA_VERSION, SqliteStorage};

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trailalerts.db");
    (dir, path)
}

#[test]
fn passes_the_conformance_kit() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let result = testkit::check_storage(&mut || {
        n += 1;
        SqliteStorage::open(dir.path().join(format!("kit-{n}.db"))).unwrap()
    });
    if let Err(f) = result {
        panic!("{}", f.join("\n"));
    }
}

#[test]
fn everything_survives_reopening() {
    let (_d, path) = temp_db();
    let results = testkit::sample_results();
    {
        let mut s = SqliteStorage::open(&path).unwrap();
        s.save_results(&results, "2024-04-01T00:00:00Z").unwrap();
        s.put_ignore(&IgnoreDef {
            id: "x".into(),
            user: Some("ci-*".into()),
            ..IgnoreDef::default()
        })
        .unwrap();
        s.set_alert_enabled("cis-4.1-unauthorized-api-calls", false)
            .unwrap();
    }
    let s = SqliteStorage::open(&path).unwrap();
    assert_eq!(
        s.count_results().unwrap(),
        results.iter().filter(|r| r.save).count() as u64
    );
    assert_eq!(s.list_ignores(None).unwrap().len(), 1);
    assert_eq!(
        s.alert_states()
            .unwrap()
            .get("cis-4.1-unauthorized-api-calls"),
        Some(&false)
    );
    let all = s.query_results(&ResultQuery::default()).unwrap();
    assert_eq!(all.results.len() as u64, s.count_results().unwrap());
}

fn burst() -> Engine {
    Engine::builder()
        .builtin(false)
        .alerts_json(r#"{"id":"burst","name":"Burst","risk":"high","response":"unauthorized","threshold":{"count":3,"window_seconds":60}}"#)
        .unwrap()
        .build()
        .unwrap()
}

fn denied(i: u32) -> String {
    format!(
        r#"{{"eventID":"d{i}","eventTime":"2024-01-01T00:00:{i:02}Z","eventName":"ListBuckets","eventSource":"s3.amazonaws.com","errorCode":"AccessDenied","userIdentity":{{"type":"IAMUser","userName":"eve"}}}}"#
    )
}

/// One event as a pipeline would handle it: skip if processed, evaluate, commit everything.
fn handle(engine: &mut Engine, store: &mut SqliteStorage, raw: &str) -> usize {
    let ev = Event::parse(raw).unwrap();
    let id = ev.event_id().unwrap().to_owned();
    if store.is_processed(&id).unwrap() {
        return 0;
    }
    let results = engine.evaluate(&ev);
    let state = engine.threshold_state();
    let out = store
        .commit(&Batch {
            results: &results,
            processed: &[(id, ev.time_ms().unwrap_or(0))],
            thresholds: Some(&state),
            recorded_at: "2024-01-01T00:01:00Z",
            silenced: &[],
            deliveries: &[],
        })
        .unwrap();
    out.new_results
}

#[test]
fn half_counted_threshold_fires_after_restart_and_redelivery_adds_nothing() {
    let (_d, path) = temp_db();
    {
        let mut store = SqliteStorage::open(&path).unwrap();
        let mut engine = burst();
        assert_eq!(handle(&mut engine, &mut store, &denied(1)), 0);
        assert_eq!(handle(&mut engine, &mut store, &denied(2)), 0);
    }
    let mut store = SqliteStorage::open(&path).unwrap();
    let mut engine = burst();
    engine.restore_threshold_state(store.load_threshold_state().unwrap());
    // Redelivered after the restart: already processed, must not count again.
    assert_eq!(handle(&mut engine, &mut store, &denied(2)), 0);
    assert_eq!(
        handle(&mut engine, &mut store, &denied(3)),
        1,
        "the third event fires after the restart"
    );
    assert_eq!(
        handle(&mut engine, &mut store, &denied(3)),
        0,
        "redelivery of the firing event adds no result"
    );
    assert_eq!(store.count_results().unwrap(), 1);
    let r = store
        .query_results(&ResultQuery::default())
        .unwrap()
        .results;
    assert_eq!(r[0].result.count, Some(3));
}

#[test]
fn corrupt_foreign_and_newer_files_are_refused_with_clear_errors() {
    let (_d, path) = temp_db();
    std::fs::write(&path, b"this is not a database, it is a text file that happens to be long enough to have a header").unwrap();
    let e = SqliteStorage::open(&path).unwrap_err().to_string();
    assert!(e.contains("not a SQLite database"), "{e}");
    assert_eq!(
        std::fs::read(&path).unwrap().len(),
        89,
        "the foreign file is left untouched"
    );

    let (_d2, other) = temp_db();
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (1);",
        )
        .unwrap();
    }
    let e = SqliteStorage::open(&other).unwrap_err().to_string();
    assert!(e.contains("another application"), "{e}");
    let c = rusqlite::Connection::open(&other).unwrap();
    assert_eq!(
        c.query_row("SELECT count(*) FROM invoices", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        1
    );

    let (_d3, newer) = temp_db();
    SqliteStorage::open(&newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
        .unwrap();
    let e = SqliteStorage::open(&newer).unwrap_err().to_string();
    assert!(e.contains("newer") && e.contains("upgrade"), "{e}");
}

#[test]
fn read_only_locations_give_clear_errors() {
    let e = SqliteStorage::open("/proc/trailalerts-cannot-live-here.db")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/proc/trailalerts-cannot-live-here.db") && e.contains("open"),
        "{e}"
    );
    let (_d, path) = temp_db();
    let mut s = SqliteStorage::open(&path).unwrap();
    s.save_results(&testkit::sample_results(), "t").unwrap();
    drop(s);
    let mut ro = SqliteStorage::open_read_only(&path).unwrap();
    assert!(ro.count_results().unwrap() > 0, "reading works");
    let e = ro
        .save_results(&testkit::sample_results(), "t")
        .unwrap_err();
    assert_eq!(e.code(), "storage");
    assert!(e.to_string().contains("read-only"), "{e}");
}

#[test]
fn a_full_disk_loses_nothing_already_committed_and_writes_no_half_batch() {
    let (_d, path) = temp_db();
    let mut s = SqliteStorage::open(&path).unwrap();
    let results = testkit::sample_results();
    let (a, b) = results.split_at(5);
    let first = s.save_results(a, "t1").unwrap();
    let pages: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    s.set_max_pages(pages as u64).unwrap();
    // A big batch cannot fit.
    let mut big = b.to_vec();
    for (i, r) in b.iter().cycle().take(400).enumerate() {
        let mut r = r.clone();
        r.id = format!("big-{i}");
        big.push(r);
    }
    let e = s.save_results(&big, "t2").unwrap_err();
    assert!(e.to_string().contains("full"), "{e}");
    assert_eq!(
        s.count_results().unwrap(),
        first as u64,
        "the failed batch left nothing behind"
    );
    drop(s);
    let s = SqliteStorage::open(&path).unwrap();
    assert_eq!(
        s.count_results().unwrap(),
        first as u64,
        "committed results survive"
    );
}

#[test]
fn readers_work_while_another_process_writes() {
    let (_d, path) = temp_db();
    let mut writer = SqliteStorage::open(&path).unwrap();
    let reader = SqliteStorage::open(&path).unwrap();
    let results = testkit::sample_results();
    for (i, chunk) in results.chunks(3).enumerate() {
        writer.save_results(chunk, &format!("t{i}")).unwrap();
        let seen = reader
            .query_results(&ResultQuery {
                limit: 5,
                ..ResultQuery::default()
            })
            .unwrap();
        assert!(!seen.results.is_empty());
    }
    assert_eq!(
        reader.count_results().unwrap(),
        writer.count_results().unwrap()
    );
}

#[test]
fn the_schema_v1_fixture_still_opens() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/schema-v1.db");
    let (_d, path) = temp_db();
    std::fs::copy(&fixture, &path).unwrap();
    let s = SqliteStorage::open(&path).unwrap();
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION, "migrated forward on open");
    assert_eq!(
        s.count_results().unwrap(),
        3,
        "the fixture holds three results"
    );
    assert_eq!(s.list_ignores(None).unwrap().len(), 1);
}

#[test]
fn sql_metacharacters_in_queries_and_names_are_just_text() {
    let (_dir, path) = temp_db();
    let mut s = SqliteStorage::open(&path).unwrap();
    let results = testkit::sample_results();
    s.save_results(&results, "2024-04-01T00:00:00Z").unwrap();
    let total = s.count_results().unwrap();
    let hostile = [
        "x' OR '1'='1",
        "'; DROP TABLE results; --",
        "%",
        "_",
        "\\",
        "\"",
        "a]b",
        "*' --",
    ];
    for h in hostile {
        for q in [
            ResultQuery {
                user: Some(h.into()),
                ..ResultQuery::default()
            },
            ResultQuery {
                region: Some(h.into()),
                ..ResultQuery::default()
            },
            ResultQuery {
                text: Some(h.into()),
                ..ResultQuery::default()
            },
            ResultQuery {
                alert_ids: vec![h.into()],
                ..ResultQuery::default()
            },
            ResultQuery {
                error_code: Some(h.into()),
                ..ResultQuery::default()
            },
        ] {
            match s.query_results(&q) {
                // Nothing in the samples contains these strings: nothing matches…
                Ok(page) => assert!(
                    page.results
                        .iter()
                        .all(|r| r.result.raw.get().contains(h.trim_matches('*'))),
                    "{h:?} matched unrelated rows"
                ),
                // …or the glob is rejected as a glob (e.g. a lone `\`), with a clear code.
                Err(e) => assert_eq!(e.code(), "invalid_request", "{h:?}: {e}"),
            }
        }
        let ig = IgnoreDef {
            id: h.to_owned(),
            user: Some("nobody".into()),
            ..IgnoreDef::default()
        };
        s.put_ignore(&ig).unwrap();
        assert!(
            s.list_ignores(None)
                .unwrap()
                .iter()
                .any(|i| i.ignore.id == h)
        );
        s.remove_ignore(None, h).unwrap();
    }
    assert_eq!(s.count_results().unwrap(), total, "the tables are intact");
}

#[test]
fn several_processes_opening_a_new_file_at_once_migrate_it_once() {
    for _ in 0..5 {
        let (_dir, path) = temp_db();
        let opened: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    SqliteStorage::open(&path)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for t in opened {
            t.join().unwrap().unwrap();
        }
    }
}
