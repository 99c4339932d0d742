//! `trailalerts watch`: the live SQS pipeline.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use trailalerts::{Engine, MemoryStorage, Storage};
use trailalerts_adapters::sqs::{WatchConfig, Watcher};

use crate::{AlertSource, Fatal, engine_for, now, open_db};

#[derive(Args)]
pub struct WatchArgs {
    /// The SQS queue URL.
    #[arg(long, value_name = "URL")]
    queue_url: String,
    #[command(flatten)]
    source: AlertSource,
    /// An SQS/S3-compatible endpoint instead of AWS.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// AWS region (default: the AWS configuration's, else the queue URL's).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// S3 log files fetched at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Drain the queue and exit when a receive returns nothing (batch jobs, tests).
    #[arg(long)]
    exit_when_empty: bool,
    /// Long-poll wait per receive, 0–20 seconds.
    #[arg(long, default_value_t = 20, value_name = "SECS")]
    wait_seconds: i32,
    /// Visibility timeout for received messages, extended while they are processed.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    visibility_timeout: i32,
    /// Log a metrics line this often (also on SIGUSR1).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    metrics_interval: u64,
    /// Forget processed event ids whose eventTime is older than this many days (redelivered
    /// events older than that would be evaluated again). At least the queue's retention.
    #[arg(long, default_value_t = 14, value_name = "DAYS")]
    keep_processed_days: u64,
    /// Do not send the alerts' notifications.
    #[arg(long)]
    no_notify: bool,
    /// At shutdown, wait at most this long for notifications to be delivered (the rest stay pending in --db).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    notify_timeout: u64,
    #[command(flatten)]
    delivery: crate::notify::DeliveryOpts,
}

fn log(line: &str) {
    eprintln!("{} {line}", now());
}

pub fn watch(a: WatchArgs) -> Result<ExitCode, Fatal> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Fatal(1, format!("signal handler: {e}")))?;
    }
    match &a.source.db {
        Some(path) => {
            let db = open_db(path)?;
            let engine = engine_for(&a.source, Some(&db), Ok)?;
            // The dispatcher gets its own connection: recording a delivery never waits behind
            // the pipeline's commits (WAL lets both proceed).
            let outbox = Arc::new(Mutex::new(open_db(path)?));
            run(engine, Arc::new(Mutex::new(db)), outbox, &a, stop)
        }
        None => {
            log(
                "no --db: results, processed event ids and threshold state are kept in memory only; a restart re-reads redelivered messages",
            );
            let engine = engine_for(&a.source, None, Ok)?;
            let store = Arc::new(Mutex::new(MemoryStorage::new()));
            run(engine, Arc::clone(&store), store, &a, stop)
        }
    }
}

fn run<S: Storage + Send + 'static, D: Storage + Send + 'static>(
    engine: Engine,
    store: Arc<Mutex<S>>,
    outbox: Arc<Mutex<D>>,
    a: &WatchArgs,
    stop: Arc<AtomicBool>,
) -> Result<ExitCode, Fatal> {
    let notify = !a.no_notify
        && engine
            .alerts()
            .any(|d| d.enabled && !d.notifications.is_empty());
    let dispatcher = if notify {
        let d = crate::notify::dispatcher(&a.delivery)?;
        let problems = d.check_alerts(engine.alerts().filter(|x| x.enabled));
        if !problems.is_empty() {
            return Err(Fatal(2, problems.join("\n")));
        }
        Some(d)
    } else {
        None
    };
    let mut cfg = WatchConfig::new(&a.queue_url);
    cfg.endpoint_url.clone_from(&a.endpoint_url);
    cfg.region.clone_from(&a.region);
    cfg.concurrency = a.concurrency;
    cfg.exit_when_empty = a.exit_when_empty;
    cfg.wait_seconds = a.wait_seconds;
    cfg.visibility_timeout = a.visibility_timeout;
    cfg.metrics_every = Duration::from_secs(a.metrics_interval.max(1));
    cfg.keep_processed = Duration::from_secs(a.keep_processed_days.max(1) * 86_400);
    let enabled = engine.alerts().filter(|d| d.enabled).count();
    let mut w =
        Watcher::new(engine, Arc::clone(&store), cfg, None).map_err(|e| Fatal(1, e.to_string()))?;
    #[cfg(unix)]
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, w.metrics_flag())
        .map_err(|e| Fatal(1, format!("signal handler: {e}")))?;
    let watcher_stop = w.stop_flag();
    // Forward SIGINT/SIGTERM to the watcher (which also ends a long poll early).
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        watcher_stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    if let Some(d) = dispatcher {
        w.set_dispatcher(d.spawn(outbox));
    }
    log(&format!("watching {} with {enabled} alerts", a.queue_url));
    let stats = w
        .run(&mut |l| log(l))
        .map_err(|e| Fatal(1, e.to_string()))?;
    log(&format!("stopped: {stats}"));
    if let Some(d) = w.take_dispatcher() {
        let n = d.finish(Duration::from_secs(a.notify_timeout));
        log(&format!(
            "notifications: {} delivered, {} failed, {} pending",
            n.delivered, n.failed, n.pending
        ));
    }
    Ok(ExitCode::SUCCESS)
}
