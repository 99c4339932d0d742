//! The live pipeline: an SQS queue → the engine → storage → notifications.
//!
//! [`Watcher::run`] long-polls the queue (batches of up to 10), detects each message's shape
//! ([`trailalerts::detect_message`]), fetches announced S3 log files (several at once,
//! `concurrency`), evaluates the events in order on one engine (so thresholds see one stream),
//! and commits the results, processed event ids, threshold state and notification deliveries
//! of every handled message of the receive batch in one storage transaction. Only then are
//! those messages deleted (one batch request). A crash at any
//! point leads to redelivery, and redelivered events are recognised by their processed ids, so
//! no result or notification is produced twice.
//!
//! Messages that cannot be handled (unknown shapes, missing S3 objects, storage errors) are
//! counted, logged with their message id and left on the queue for its redrive policy.
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use trailalerts::Engine;
//! use trailalerts_adapters::sqlite::SqliteStorage;
//! use trailalerts_adapters::sqs::{WatchConfig, Watcher};
//!
//! let store = Arc::new(Mutex::new(SqliteStorage::open("alerts.db")?));
//! let engine = Engine::builder().build_with_storage(&*store.lock().unwrap())?;
//! let cfg = WatchConfig::new("https://sqs.us-east-1.amazonaws.com/123456789012/cloudtrail-events");
//! let mut watcher = Watcher::new(engine, store, cfg, None)?;
//! let stats = watcher.run(&mut |line| eprintln!("{line}"))?;
//! println!("{stats}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, QueueAttributeName};
use trailalerts::{
    AlertResult, Batch, Delivery, Engine, Event, MessageShape, Records, S3Object, Storage,
    detect_message,
};

use crate::notify::{DispatcherHandle, now_ms};

/// Settings of a [`Watcher`].
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// The queue URL.
    pub queue_url: String,
    /// An SQS/S3-compatible endpoint instead of AWS.
    pub endpoint_url: Option<String>,
    /// Region (default: the AWS configuration's, else the queue URL's).
    pub region: Option<String>,
    /// S3 objects fetched at once.
    pub concurrency: usize,
    /// Long-poll wait per receive (0–20 s).
    pub wait_seconds: i32,
    /// Visibility timeout given to received messages, and extended by while they are processed.
    pub visibility_timeout: i32,
    /// Stop when a receive returns no message.
    pub exit_when_empty: bool,
    /// How often a metrics line is logged.
    pub metrics_every: Duration,
    /// Processed event ids with an eventTime older than this are forgotten (checked hourly):
    /// redeliveries come within the queue's retention (at most 14 days), so the table stays bounded.
    pub keep_processed: Duration,
}

impl WatchConfig {
    /// Defaults for a queue: 20 s long polling, 4 concurrent fetches, 300 s visibility.
    pub fn new(queue_url: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            endpoint_url: None,
            region: None,
            concurrency: 4,
            wait_seconds: 20,
            visibility_timeout: 300,
            exit_when_empty: false,
            metrics_every: Duration::from_secs(60),
            keep_processed: Duration::from_secs(14 * 86_400),
        }
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchStats {
    /// Messages received (a redelivered message counts again).
    pub messages: u64,
    /// Messages deleted after their events were stored.
    pub deleted: u64,
    /// Messages that needed no work (S3 test events, subscription confirmations); deleted.
    pub ignorable: u64,
    /// Messages of unknown shape, left for the redrive policy.
    pub unknown: u64,
    /// Messages left on the queue because of an error (missing object, storage).
    pub failed: u64,
    /// S3 objects read.
    pub objects: u64,
    /// S3 keys skipped (digest and Insights files, non-log keys).
    pub skipped_objects: u64,
    /// Events evaluated.
    pub events: u64,
    /// Events skipped because they were already processed (redelivery).
    pub duplicates: u64,
    /// Records that could not be read.
    pub bad_records: u64,
    /// Results produced.
    pub results: u64,
    /// Receive/delete errors from the queue (retried).
    pub queue_errors: u64,
    /// Now minus the eventTime of the newest event seen, at the last message (ms).
    pub lag_ms: i64,
}

impl std::fmt::Display for WatchStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "messages={} deleted={} ignorable={} unknown={} failed={} objects={} skipped_objects={} events={} duplicates={} bad_records={} results={} queue_errors={} lag={:.1}s",
            self.messages,
            self.deleted,
            self.ignorable,
            self.unknown,
            self.failed,
            self.objects,
            self.skipped_objects,
            self.events,
            self.duplicates,
            self.bad_records,
            self.results,
            self.queue_errors,
            self.lag_ms as f64 / 1000.0
        )
    }
}

/// A fatal watch error (bad configuration; the queue unreachable is retried, not fatal).
#[derive(Debug, thiserror::Error)]
#[error("watch: {0}")]
pub struct WatchError(pub String);

/// What a receive batch produced, committed at once.
struct Pending {
    results: Vec<AlertResult>,
    processed: Vec<(String, i64)>,
    seen: HashSet<String>,
    newest: i64,
    events: u64,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            results: Vec::new(),
            processed: Vec::new(),
            seen: HashSet::new(),
            newest: i64::MIN,
            events: 0,
        }
    }
}

/// A message's S3 objects as `(s3://bucket/key, decoded bytes)`, or the first error.
type Fetched = Result<Vec<(String, Vec<u8>)>, String>;

/// Runs the pipeline. See the module documentation.
pub struct Watcher<S: Storage + Send + 'static> {
    engine: Engine,
    storage: Arc<Mutex<S>>,
    cfg: WatchConfig,
    rt: tokio::runtime::Runtime,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    stop: Arc<AtomicBool>,
    metrics_now: Arc<AtomicBool>,
    dispatcher: Option<DispatcherHandle>,
    has_thresholds: bool,
    stats: WatchStats,
    left: HashSet<String>,
}

fn region_of_queue(url: &str) -> Option<String> {
    // https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    (parts.next()? == "sqs")
        .then(|| parts.next().map(str::to_owned))
        .flatten()
}

impl<S: Storage + Send + 'static> Watcher<S> {
    /// A watcher using the standard AWS configuration chain (or `base` when given).
    pub fn new(
        engine: Engine,
        storage: Arc<Mutex<S>>,
        cfg: WatchConfig,
        base: Option<SdkConfig>,
    ) -> Result<Self, WatchError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trailalerts-watch")
            .enable_all()
            .build()
            .map_err(|e| WatchError(format!("cannot start the runtime: {e}")))?;
        let conf = crate::aws::sdk_config(
            &rt,
            crate::aws::ConfigRequest {
                base: base.as_ref(),
                region: cfg.region.clone(),
                fallback_region: region_of_queue(&cfg.queue_url),
                endpoint: cfg.endpoint_url.clone(),
                timeouts: None,
            },
        );
        let sqs = aws_sdk_sqs::Client::new(&conf);
        // Compatible endpoints (moto, MinIO) need path-style bucket addressing.
        let s3_conf = aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(cfg.endpoint_url.is_some())
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(s3_conf);
        let has_thresholds = engine.alerts().any(|a| a.enabled && a.threshold.is_some());
        Ok(Self {
            engine,
            storage,
            cfg,
            rt,
            sqs,
            s3,
            stop: Arc::new(AtomicBool::new(false)),
            metrics_now: Arc::new(AtomicBool::new(false)),
            dispatcher: None,
            has_thresholds,
            stats: WatchStats::default(),
            left: HashSet::new(),
        })
    }

    /// Set to stop after the messages in flight (SIGINT/SIGTERM handlers set it).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Set to log a metrics line at the next chance (a SIGUSR1 handler sets it).
    pub fn metrics_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.metrics_now)
    }

    /// Wakes this dispatcher after each commit that adds deliveries.
    pub fn set_dispatcher(&mut self, d: DispatcherHandle) {
        self.dispatcher = Some(d);
    }

    /// Takes the dispatcher back (to finish it).
    pub fn take_dispatcher(&mut self) -> Option<DispatcherHandle> {
        self.dispatcher.take()
    }

    /// The counters so far.
    pub fn stats(&self) -> WatchStats {
        self.stats
    }

    /// The engine (threshold state, alerts).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Receives and handles messages until stopped (or, with `exit_when_empty`, until a receive
    /// returns nothing). `log` gets one line per notable thing and a metrics line periodically.
    pub fn run(&mut self, log: &mut dyn FnMut(&str)) -> Result<WatchStats, WatchError> {
        let mut last_metrics = Instant::now();
        let mut last_prune: Option<Instant> = Some(Instant::now());
        let mut backoff = Duration::from_millis(500);
        while !self.stop.load(Ordering::SeqCst) {
            let msgs = match self.receive() {
                Ok(m) => {
                    backoff = Duration::from_millis(500);
                    m
                }
                Err(e) => {
                    self.stats.queue_errors += 1;
                    log(&format!(
                        "receive failed (retrying in {:.1} s): {e}",
                        backoff.as_secs_f64()
                    ));
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            if msgs.is_empty() {
                // Drained only when nothing is visible and nothing is in flight (messages a killed
                // or busy consumer holds come back when their visibility timeout ends).
                if self.cfg.exit_when_empty && self.queue_is_empty() {
                    break;
                }
            } else {
                let repeats_only = msgs
                    .iter()
                    .all(|m| m.message_id().is_some_and(|id| self.left.contains(id)));
                self.handle_batch(&msgs, log);
                // Only messages already left for the redrive policy came back: nothing more can be done.
                if self.cfg.exit_when_empty && repeats_only {
                    break;
                }
            }
            if last_prune.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                let before = now_ms()
                    - i64::try_from(self.cfg.keep_processed.as_millis()).unwrap_or(i64::MAX / 2);
                let pruned = self
                    .storage
                    .lock()
                    .map_err(|_| "storage lock poisoned".to_owned())
                    .and_then(|mut s| {
                        let ids = s.prune_processed(before).map_err(|e| e.to_string())?;
                        let sent = s
                            .prune_deliveries(now_ms() - 30 * 86_400_000)
                            .map_err(|e| e.to_string())?;
                        Ok((ids, sent))
                    });
                match pruned {
                    Ok((0, 0)) => {}
                    Ok((ids, sent)) => log(&format!(
                        "forgot {ids} processed event ids older than {} days and {sent} notifications delivered over 30 days ago",
                        self.cfg.keep_processed.as_secs() / 86_400
                    )),
                    Err(e) => log(&format!("pruning failed: {e}")),
                }
            }
            if last_metrics.elapsed() >= self.cfg.metrics_every
                || self.metrics_now.swap(false, Ordering::SeqCst)
            {
                log(&format!("metrics: {}", self.stats));
                last_metrics = Instant::now();
            }
        }
        Ok(self.stats)
    }

    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(
                Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
            );
        }
    }

    fn queue_is_empty(&self) -> bool {
        let req = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.cfg.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        match self.rt.block_on(req.send()) {
            Ok(out) => out
                .attributes()
                .is_none_or(|a| a.values().all(|v| v == "0")),
            Err(_) => true,
        }
    }

    fn receive(&self) -> Result<Vec<Message>, String> {
        let req = self
            .sqs
            .receive_message()
            .queue_url(&self.cfg.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(self.cfg.wait_seconds.clamp(0, 20))
            .visibility_timeout(self.cfg.visibility_timeout);
        let stop = Arc::clone(&self.stop);
        self.rt.block_on(async move {
            // A stop request ends a long poll at once; nothing received is lost (it was not received).
            let stopped = async move {
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            tokio::select! {
                r = req.send() => r.map(|o| o.messages.unwrap_or_default()).map_err(|e| crate::aws::describe(&e)),
                () = stopped => Ok(Vec::new()),
            }
        })
    }

    fn handle_batch(&mut self, msgs: &[Message], log: &mut dyn FnMut(&str)) {
        self.stats.messages += msgs.len() as u64;
        let shapes: Vec<MessageShape> = msgs
            .iter()
            .map(|m| detect_message(m.body().unwrap_or_default()))
            .collect();
        // Keep the batch invisible to other consumers while it is being fetched and evaluated.
        let receipts: Vec<String> = msgs
            .iter()
            .filter_map(|m| m.receipt_handle().map(str::to_owned))
            .collect();
        let keep_alive = self.keep_invisible(receipts);
        let fetched = self.fetch_all(&shapes);
        // Every handled message of the batch goes into one commit, then one batch delete:
        // an EventBridge queue carries one event per message, so this is 10× fewer syncs.
        let mut acc = Pending::default();
        let mut handled: Vec<&Message> = Vec::new();
        let mut ignorable: Vec<&Message> = Vec::new();
        for ((m, shape), objects) in msgs.iter().zip(&shapes).zip(fetched) {
            let id = m.message_id().unwrap_or("?");
            match shape {
                MessageShape::Ignorable(why) => {
                    log(&format!("message {id}: {why}; deleted"));
                    self.stats.ignorable += 1;
                    ignorable.push(m);
                }
                MessageShape::Unknown(why) => {
                    self.stats.unknown += 1;
                    self.left.insert(id.to_owned());
                    log(&format!(
                        "message {id}: {why}; left for the queue's redrive policy"
                    ));
                }
                MessageShape::Events(raws) => {
                    let text = raws
                        .iter()
                        .map(|r| r.get())
                        .collect::<Vec<_>>()
                        .join("\n")
                        .into_bytes();
                    self.evaluate(id, &[(format!("message {id}"), text)], &mut acc, log);
                    handled.push(m);
                }
                MessageShape::S3Objects {
                    objects: _,
                    skipped,
                } => {
                    for (key, why) in skipped {
                        self.stats.skipped_objects += 1;
                        log(&format!("message {id}: skipped s3 key {key}: {why}"));
                    }
                    match objects {
                        Ok(bufs) => {
                            self.stats.objects += bufs.len() as u64;
                            self.evaluate(id, &bufs, &mut acc, log);
                            handled.push(m);
                        }
                        Err(e) => {
                            self.stats.failed += 1;
                            self.left.insert(id.to_owned());
                            log(&format!("message {id}: {e}; left on the queue to retry"));
                        }
                    }
                }
            }
        }
        if self.commit(&acc, handled.len(), log) {
            handled.extend(ignorable);
            self.delete_all(&handled, log);
        } else {
            self.delete_all(&ignorable, log);
        }
        keep_alive.store(true, Ordering::SeqCst);
    }

    /// Extends the visibility of `receipts` every third of the timeout until the returned flag is set.
    fn keep_invisible(&self, receipts: Vec<String>) -> Arc<AtomicBool> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let sqs = self.sqs.clone();
        let url = self.cfg.queue_url.clone();
        let timeout = self.cfg.visibility_timeout.max(3);
        self.rt.spawn(async move {
            let every = Duration::from_secs(u64::try_from(timeout / 3).unwrap_or(1).max(1));
            loop {
                let start = Instant::now();
                while start.elapsed() < every {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                for r in &receipts {
                    let _ = sqs
                        .change_message_visibility()
                        .queue_url(&url)
                        .receipt_handle(r)
                        .visibility_timeout(timeout)
                        .send()
                        .await;
                }
            }
        });
        done
    }

    /// Fetches every message's S3 objects, `concurrency` at a time. Per message: the decoded
    /// buffers, or the first error.
    fn fetch_all(&self, shapes: &[MessageShape]) -> Vec<Fetched> {
        let mut jobs: Vec<(usize, S3Object)> = Vec::new();
        for (i, s) in shapes.iter().enumerate() {
            if let MessageShape::S3Objects { objects, .. } = s {
                jobs.extend(objects.iter().cloned().map(|o| (i, o)));
            }
        }
        let s3 = self.s3.clone();
        let limit = Arc::new(tokio::sync::Semaphore::new(self.cfg.concurrency.max(1)));
        let fetched: Vec<(usize, String, Result<Vec<u8>, String>)> = self.rt.block_on(async move {
            let mut handles = Vec::new();
            for (i, o) in jobs {
                let (s3, limit) = (s3.clone(), Arc::clone(&limit));
                handles.push(tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let name = format!("s3://{}/{}", o.bucket, o.key);
                    let r = match s3.get_object().bucket(&o.bucket).key(&o.key).send().await {
                        Ok(out) => out
                            .body
                            .collect()
                            .await
                            .map(|b| b.into_bytes().to_vec())
                            .map_err(|e| format!("{name}: reading the body: {e}")),
                        Err(e) => Err(format!("{name}: {}", crate::aws::describe(&e))),
                    };
                    (i, name, r)
                }));
            }
            let mut out = Vec::new();
            for h in handles {
                if let Ok(x) = h.await {
                    out.push(x);
                }
            }
            out
        });
        let mut per: Vec<Fetched> = shapes.iter().map(|_| Ok(Vec::new())).collect();
        for (i, name, r) in fetched {
            let Some(slot) = per.get_mut(i) else { continue };
            match (slot.as_mut(), r) {
                (Ok(v), Ok(bytes)) => {
                    let (buf, damage) = crate::files::decode(bytes);
                    if let Some(d) = damage {
                        *slot = Err(format!("{name}: {d}"));
                    } else {
                        v.push((name, buf));
                    }
                }
                (Ok(_), Err(e)) => *slot = Err(e),
                (Err(_), _) => {}
            }
        }
        per
    }

    /// Evaluates a message's records into `acc`, skipping events already processed (before,
    /// or earlier in this batch).
    fn evaluate(
        &mut self,
        id: &str,
        bufs: &[(String, Vec<u8>)],
        acc: &mut Pending,
        log: &mut dyn FnMut(&str),
    ) {
        for (name, buf) in bufs {
            for (n, rec) in Records::new(buf).enumerate() {
                let rec = match rec {
                    Ok(r) => r,
                    Err(e) => {
                        self.stats.bad_records += 1;
                        log(&format!("message {id}: {name}: record {n}: {e}"));
                        continue;
                    }
                };
                let ev = match Event::from_raw_value(rec.value) {
                    Ok(ev) => ev,
                    Err(e) => {
                        self.stats.bad_records += 1;
                        log(&format!("message {id}: {name}: record {n}: {e}"));
                        continue;
                    }
                };
                let key = ev.dedup_id();
                let done_before = self
                    .storage
                    .lock()
                    .map(|s| s.is_processed(&key).unwrap_or(false))
                    .unwrap_or(false);
                if done_before || !acc.seen.insert(key.clone()) {
                    self.stats.duplicates += 1;
                    continue;
                }
                let t = ev.time_ms().unwrap_or(0);
                acc.newest = acc.newest.max(t);
                acc.processed.push((key, t));
                acc.events += 1;
                self.engine.evaluate_into(&ev, &mut acc.results);
            }
        }
    }

    /// Stores a batch's results, processed ids, threshold state and deliveries in one
    /// transaction. False when it failed (then nothing of the batch is stored).
    fn commit(&mut self, acc: &Pending, messages: usize, log: &mut dyn FnMut(&str)) -> bool {
        if messages == 0 {
            return true;
        }
        let deliveries: Vec<Delivery> = {
            let now = now_ms();
            acc.results
                .iter()
                .filter_map(|r| {
                    self.engine
                        .alert(&r.alert_id)
                        .map(|d| Delivery::for_result(d, r, now))
                })
                .flatten()
                .collect()
        };
        let silenced = self.engine.take_silenced();
        let state = self.has_thresholds.then(|| self.engine.threshold_state());
        let recorded_at = trailalerts::format_epoch_ms(now_ms());
        let batch = Batch {
            results: &acc.results,
            silenced: &silenced,
            processed: &acc.processed,
            thresholds: state.as_deref(),
            recorded_at: &recorded_at,
            deliveries: &deliveries,
        };
        let committed = self
            .storage
            .lock()
            .map_err(|_| "storage lock poisoned".to_owned())
            .and_then(|mut s| s.commit(&batch).map_err(|e| e.to_string()));
        match committed {
            Ok(_) => {
                self.stats.events += acc.events;
                self.stats.results += acc.results.len() as u64;
                if acc.newest > i64::MIN {
                    self.stats.lag_ms = now_ms() - acc.newest;
                }
                if !deliveries.is_empty()
                    && let Some(d) = &self.dispatcher
                {
                    d.wake();
                }
                true
            }
            Err(e) => {
                // Nothing of the batch was stored: its messages come back and are evaluated again.
                // Reload the saved threshold state so memory and storage stay in step.
                self.stats.failed += messages as u64;
                log(&format!(
                    "storing {messages} message(s) failed ({e}); left on the queue to retry"
                ));
                if let Ok(s) = self.storage.lock()
                    && let Ok(saved) = s.load_threshold_state()
                {
                    self.engine.restore_threshold_state(saved);
                }
                false
            }
        }
    }

    /// Deletes messages, 10 per request.
    fn delete_all(&mut self, msgs: &[&Message], log: &mut dyn FnMut(&str)) {
        for chunk in msgs.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                        .build()
                        .ok()
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            let req = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.cfg.queue_url)
                .set_entries(Some(entries));
            match self.rt.block_on(req.send()) {
                Ok(out) => {
                    let failed = out.failed();
                    self.stats.deleted += (chunk.len() - failed.len()) as u64;
                    for f in failed {
                        // Stored already: a redelivery is recognised by the processed ids.
                        self.stats.queue_errors += 1;
                        let m = f
                            .id()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| chunk.get(i))
                            .and_then(|m| m.message_id())
                            .unwrap_or("?");
                        log(&format!(
                            "message {m}: delete failed (it will come back and be skipped): {}",
                            f.message().unwrap_or(f.code())
                        ));
                    }
                }
                Err(e) => {
                    self.stats.queue_errors += 1;
                    log(&format!(
                        "deleting {} message(s) failed (they will come back and be skipped): {}",
                        chunk.len(),
                        crate::aws::describe(&e)
                    ));
                }
            }
        }
    }
}
