//! `scan_paths_on` evaluates files on several threads and applies them in file order: the
//! results (including threshold results whose window spans files), problems and summary must
//! not depend on the number of threads.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use std::path::PathBuf;

use trailalerts::{AlertResult, Engine};
use trailalerts_adapters::files::{ScanProblem, ScanSummary, read_log, scan_buffer, scan_paths_on};

/// Writes `files` log files into a fresh directory. Each file has 60 events one second apart
/// (time runs on across files), mixing calls that fire at once, AccessDenied errors from a few
/// users (a 20-in-60-s threshold that fills up across file boundaries) and quiet reads. Some
/// files also hold a bad record; one is not JSON at all.
fn write_logs(files: usize, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trailalerts-scan-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut t = 1_714_557_600i64; // 2024-05-01T10:00:00Z
    for f in 0..files {
        let mut recs = Vec::new();
        for k in 0..60 {
            t += 1;
            let time = trailalerts::format_epoch_ms(t * 1000);
            let user = format!("user{}", (f / 2 + k / 50) % 3);
            let (name, source, err) = match (f * 60 + k) % 7 {
                0 => ("StopLogging", "cloudtrail.amazonaws.com", ""),
                1..=3 => (
                    "DescribeInstances",
                    "ec2.amazonaws.com",
                    r#","errorCode":"Client.UnauthorizedOperation""#,
                ),
                4 => (
                    "ListBuckets",
                    "s3.amazonaws.com",
                    r#","errorCode":"AccessDenied""#,
                ),
                _ => ("GetCallerIdentity", "sts.amazonaws.com", ""),
            };
            recs.push(format!(
                r#"{{"eventVersion":"1.08","eventID":"e{f}-{k}","eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.{k}","userIdentity":{{"type":"IAMUser","userName":"{user}","arn":"arn:aws:iam::111122223333:user/{user}","accountId":"111122223333"}}{err}}}"#
            ));
        }
        if f % 4 == 1 {
            recs.insert(
                10,
                r#"{"eventID":"bad","eventTime":"2024-05-01T10:00:00Z"}"#.to_owned(),
            );
        }
        let text = format!("{{\"Records\":[{}]}}", recs.join(","));
        std::fs::write(dir.join(format!("log-{f:03}.json")), text).unwrap();
    }
    std::fs::write(dir.join("log-999.json"), "this is not json").unwrap();
    dir
}

type Outcome = (Vec<AlertResult>, Vec<String>, ScanSummary, Vec<u64>);

fn scan(dir: &PathBuf, threads: usize) -> Outcome {
    let mut engine = Engine::builder().build().unwrap();
    let (mut results, mut problems, mut progress) = (Vec::new(), Vec::new(), Vec::new());
    let summary = scan_paths_on(
        threads,
        &mut engine,
        std::slice::from_ref(dir),
        &mut |r| results.push(r),
        &mut |p: ScanProblem| problems.push(p.to_string()),
        &mut |s: &ScanSummary, _, _: &mut Engine| progress.push(s.events),
        None,
    )
    .unwrap();
    (results, problems, summary, progress)
}

/// The reference: every file read in name order and evaluated record by record.
fn one_by_one(dir: &PathBuf) -> (Vec<AlertResult>, Vec<String>, ScanSummary) {
    let mut engine = Engine::builder().build().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut results, mut problems) = (Vec::new(), Vec::new());
    let mut summary = ScanSummary::default();
    for f in files {
        let (buf, _) = read_log(&f).unwrap();
        scan_buffer(
            &mut engine,
            &f.display().to_string(),
            &buf,
            &mut summary,
            &mut |r| results.push(r),
            &mut |p: ScanProblem| problems.push(p.to_string()),
            None,
        );
    }
    (results, problems, summary)
}

fn key(r: &AlertResult) -> (String, Option<u32>, Option<String>) {
    (r.id.clone(), r.count, r.window_start.clone())
}

#[test]
fn same_output_for_any_number_of_threads() {
    let dir = write_logs(13, "threads");
    let (one, one_problems, one_summary, one_progress) = scan(&dir, 1);
    let (reference, ref_problems, ref_summary) = one_by_one(&dir);
    assert_eq!(
        one.iter().map(key).collect::<Vec<_>>(),
        reference.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(one_problems, ref_problems);
    assert_eq!(
        (one_summary.events, one_summary.bad_records),
        (ref_summary.events, ref_summary.bad_records)
    );
    assert!(
        one.iter().any(|r| r.count.is_some()),
        "the data must fire the threshold alert"
    );
    assert!(one.iter().any(|r| r.alert_id.starts_with("cis-4.5")));
    assert_eq!(one_summary.files, 14);
    assert_eq!(
        one_summary.bad_records,
        3 + 1,
        "3 bad records and one file that is not JSON"
    );
    assert_eq!(one_problems.len(), 4);
    assert_eq!(one_progress.len(), 14, "on_file once per file");
    for threads in [2, 3, 8] {
        let (many, problems, summary, progress) = scan(&dir, threads);
        assert_eq!(
            many.iter().map(key).collect::<Vec<_>>(),
            one.iter().map(key).collect::<Vec<_>>(),
            "{threads} threads"
        );
        assert_eq!(problems, one_problems, "{threads} threads");
        assert_eq!(summary.events, one_summary.events);
        assert_eq!(summary.results, one_summary.results);
        assert_eq!(summary.bad_records, one_summary.bad_records);
        assert_eq!(summary.results_by_alert, one_summary.results_by_alert);
        assert_eq!(progress, one_progress, "files are applied in order");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cancel_stops_a_parallel_scan() {
    let dir = write_logs(40, "cancel");
    // One thread runs inline (no worker); two use workers: the same rule for both.
    for threads in [1, 2] {
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let mut engine = Engine::builder().build().unwrap();
        let mut files_done = 0;
        let summary = scan_paths_on(
            threads,
            &mut engine,
            std::slice::from_ref(&dir),
            &mut |_| {},
            &mut |_| {},
            &mut |_, _, _: &mut Engine| {
                files_done += 1;
                if files_done == 3 {
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            },
            Some(&cancel),
        )
        .unwrap();
        assert_eq!(
            summary.files, 3,
            "no file is applied after the cancel ({threads} threads)"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
