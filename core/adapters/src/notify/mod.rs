//! Notification delivery: the six channel notifiers and the [`Dispatcher`] that drains the
//! storage's outbox.
//!
//! Flow: the pipeline commits results together with their [`Delivery`] entries
//! ([`trailalerts::Batch::deliveries`]); the dispatcher's thread picks up due deliveries,
//! sends them on per-channel worker threads (bounded parallelism, so a slow receiver neither
//! blocks evaluation nor other channels), and records each outcome. Failures are retried with
//! the [`RetryPolicy`]; a crash leaves unsent deliveries pending, and they are sent after the
//! restart (at-least-once; receivers deduplicate where they can, e.g. PagerDuty's `dedup_key`).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use trailalerts::{Batch, Delivery, Engine, Event, MemoryNotifier, MemoryStorage, Storage};
//! use trailalerts_adapters::notify::Dispatcher;
//!
//! let alert = r#"{"id": "stop", "name": "CloudTrail stopped", "risk": "high", "events": ["StopLogging"],
//!                 "notifications": [{"type": "memory"}]}"#;
//! let mut engine = Engine::builder().builtin(false).alerts_json(alert).unwrap().build().unwrap();
//! let results = engine.evaluate(&Event::parse(r#"{"eventName": "StopLogging", "eventID": "e1"}"#).unwrap());
//! let deliveries = Delivery::for_result(engine.alert("stop").unwrap(), &results[0], 0);
//!
//! let store = Arc::new(Mutex::new(MemoryStorage::new()));
//! store.lock().unwrap().commit(&Batch { results: &results, deliveries: &deliveries, ..Batch::default() }).unwrap();
//!
//! let memory = Arc::new(MemoryNotifier::new("memory"));
//! let mut dispatcher = Dispatcher::new();
//! dispatcher.register(memory.clone());
//! let handle = dispatcher.spawn(store.clone());
//! let stats = handle.finish(std::time::Duration::from_secs(5));
//! assert_eq!(stats.delivered, 1);
//! assert_eq!(memory.sent().len(), 1);
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use trailalerts::{
    AlertDef, ChannelConfig, Delivery, DeliveryStatus, DeliveryUpdate, Notifier, NotifyError,
    RetryPolicy, Storage,
};

#[cfg(any(feature = "sns", feature = "lambda"))]
pub mod aws;
#[cfg(feature = "email")]
pub mod email;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "syslog")]
pub mod syslog;
#[cfg(feature = "syslog")]
mod tls;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads `env:NAME` secrets from the process environment.
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Parses a channel configuration that a notifier of `kind` received.
#[allow(
    dead_code,
    reason = "used by the channel features; `notify` alone has none"
)]
pub(crate) fn config_of(kind: &str, config: &Value) -> Result<ChannelConfig, NotifyError> {
    match ChannelConfig::parse(config) {
        Ok(Some(c)) if c.kind() == kind => Ok(c),
        Ok(_) => Err(NotifyError::permanent(
            kind,
            format!("not a `{kind}` channel configuration"),
        )),
        Err(e) => Err(NotifyError::permanent(kind, e)),
    }
}

/// How long a claimed delivery is reserved for its sender by default (longer than any send's
/// timeouts: HTTP 10 s, syslog 10 s, SMTP 20 s per command, AWS 30 s per operation); if the
/// sender dies, another dispatcher (or the restarted one) takes it over after this.
pub const LEASE_MS: i64 = 60_000;

/// Counts of what the dispatcher did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchStats {
    /// Attempts made.
    pub attempts: u64,
    /// Deliveries accepted by their receiver.
    pub delivered: u64,
    /// Attempts that failed and will be retried.
    pub retried: u64,
    /// Deliveries given up (marked failed).
    pub failed: u64,
    /// Deliveries still pending when the dispatcher stopped (sent after the next start).
    pub pending: u64,
    /// Storage errors met (the dispatcher keeps going; the delivery stays pending).
    pub storage_errors: u64,
}

/// Sends due deliveries from a storage's outbox. See the module documentation.
pub struct Dispatcher {
    notifiers: HashMap<String, Arc<dyn Notifier>>,
    policy: RetryPolicy,
    per_channel: usize,
    poll: Duration,
    lease_ms: i64,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<&String> = self.notifiers.keys().collect();
        kinds.sort();
        f.debug_struct("Dispatcher")
            .field("channels", &kinds)
            .field("policy", &self.policy)
            .field("per_channel", &self.per_channel)
            .finish()
    }
}

impl Default for Dispatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Dispatcher {
    /// A dispatcher with no channels, the default retry policy and 4 sends at a time per channel.
    pub fn new() -> Self {
        Self {
            notifiers: HashMap::new(),
            policy: RetryPolicy::default(),
            per_channel: 4,
            poll: Duration::from_millis(500),
            lease_ms: LEASE_MS,
        }
    }

    /// A dispatcher with every channel compiled in (by cargo feature).
    pub fn with_builtin_channels() -> Result<Self, NotifyError> {
        #[allow(unused_mut, reason = "no channel feature may be enabled")]
        let mut d = Self::new();
        #[cfg(feature = "slack")]
        d.register(Arc::new(http::SlackNotifier::new()));
        #[cfg(feature = "pagerduty")]
        d.register(Arc::new(http::PagerDutyNotifier::new()));
        #[cfg(feature = "syslog")]
        d.register(Arc::new(syslog::SyslogNotifier::new()));
        #[cfg(feature = "email")]
        d.register(Arc::new(email::EmailNotifier::new()));
        #[cfg(feature = "sns")]
        d.register(Arc::new(aws::SnsNotifier::new()?));
        #[cfg(feature = "lambda")]
        d.register(Arc::new(aws::LambdaNotifier::new()?));
        Ok(d)
    }

    /// Adds (or replaces) the notifier of its channel type.
    pub fn register(&mut self, n: Arc<dyn Notifier>) {
        self.notifiers.insert(n.channel().to_owned(), n);
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn policy(mut self, p: RetryPolicy) -> Self {
        self.policy = p;
        self
    }

    /// Sets how many sends run at once per channel type (at least 1).
    #[must_use]
    pub fn per_channel(mut self, n: usize) -> Self {
        self.per_channel = n.max(1);
        self
    }

    /// Sets how long a claimed delivery stays reserved (see [`LEASE_MS`]); after a crash its
    /// deliveries are sent again once this passes.
    #[must_use]
    pub fn lease(mut self, d: Duration) -> Self {
        self.lease_ms = i64::try_from(d.as_millis()).unwrap_or(LEASE_MS).max(1);
        self
    }

    /// The channel types with a notifier.
    pub fn channels(&self) -> Vec<String> {
        let mut v: Vec<String> = self.notifiers.keys().cloned().collect();
        v.sort();
        v
    }

    /// Problems with the alerts' notification lists: channel types no notifier handles.
    pub fn check_alerts<'a>(&self, defs: impl IntoIterator<Item = &'a AlertDef>) -> Vec<String> {
        let mut out = Vec::new();
        for def in defs {
            for (i, n) in def.notifications.iter().enumerate() {
                let kind = n.get("type").and_then(Value::as_str).unwrap_or_default();
                if !self.notifiers.contains_key(kind) {
                    out.push(format!(
                        "alert `{}`: notifications[{i}]: no notifier for type `{kind}` (available: {})",
                        def.id,
                        self.channels().join(", ")
                    ));
                }
            }
        }
        out
    }

    /// Sends one delivery now and returns the update to record (no storage involved).
    pub fn attempt(&self, d: &Delivery, now_ms: i64) -> DeliveryUpdate {
        attempt(&self.notifiers, &self.policy, d, now_ms)
    }

    /// Starts the dispatcher thread on `storage`. Call [`DispatcherHandle::wake`] after a
    /// commit that added deliveries, and [`DispatcherHandle::finish`] to stop.
    pub fn spawn<S: Storage + Send + 'static>(self, storage: Arc<Mutex<S>>) -> DispatcherHandle {
        let (tx, rx) = mpsc::channel();
        let worker_tx = tx.clone();
        let thread = std::thread::Builder::new()
            .name("trailalerts-dispatch".into())
            .spawn(move || run(self, storage, rx, worker_tx))
            .ok();
        DispatcherHandle { tx, thread }
    }
}

fn attempt(
    notifiers: &HashMap<String, Arc<dyn Notifier>>,
    policy: &RetryPolicy,
    d: &Delivery,
    now_ms: i64,
) -> DeliveryUpdate {
    let outcome = match notifiers.get(&d.kind) {
        Some(n) => n.send(&d.result, &d.config),
        None => Err(NotifyError::permanent(
            &d.kind,
            format!("no notifier for channel type `{}`", d.kind),
        )),
    };
    match outcome {
        Ok(()) => RetryPolicy::delivered(d),
        Err(e) => policy.failed(d, &e, now_ms),
    }
}

enum Msg {
    Wake,
    Finish(Instant),
    Done(DeliveryUpdate),
}

/// Controls a running [`Dispatcher`].
#[derive(Debug)]
pub struct DispatcherHandle {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<DispatchStats>>,
}

impl DispatcherHandle {
    /// New deliveries were committed: look now instead of at the next poll.
    pub fn wake(&self) {
        let _ = self.tx.send(Msg::Wake);
    }

    /// Delivers what is due (including retries that fall due) until nothing is left or
    /// `timeout` passes, then stops. What remains stays pending in the storage.
    pub fn finish(mut self, timeout: Duration) -> DispatchStats {
        let _ = self.tx.send(Msg::Finish(Instant::now() + timeout));
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for DispatcherHandle {
    /// Stops without waiting for pending deliveries (they stay in the storage).
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.tx.send(Msg::Finish(Instant::now()));
            let _ = t.join();
        }
    }
}

struct Pool {
    queue: Arc<Mutex<VecDeque<Delivery>>>,
    signal: Sender<()>,
}

fn run<S: Storage>(
    d: Dispatcher,
    storage: Arc<Mutex<S>>,
    rx: Receiver<Msg>,
    done: Sender<Msg>,
) -> DispatchStats {
    let notifiers = Arc::new(d.notifiers);
    let policy = d.policy;
    let lease_ms = d.lease_ms;
    let mut stats = DispatchStats::default();
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut pools: HashMap<String, Pool> = HashMap::new();
    let mut deadline: Option<Instant> = None;
    let cap = d.per_channel * 16;
    loop {
        // Pick up what is due and not already being sent.
        let now = now_ms();
        let room = cap.saturating_sub(in_flight.len());
        // Claiming takes the storage's write lock: only when something is due.
        let next_due = || {
            storage
                .lock()
                .ok()
                .and_then(|s| s.next_delivery_ms().ok().flatten())
        };
        let something_due = next_due().is_some_and(|t| t <= now);
        let due = if room == 0 || !something_due {
            Ok(Vec::new())
        } else {
            storage
                .lock()
                .map_err(|_| ())
                .and_then(|mut s| s.claim_deliveries(now, room, lease_ms).map_err(|_| ()))
        };
        match due {
            Ok(due) => {
                for del in due {
                    if !in_flight.insert(del.id.clone()) {
                        continue;
                    }
                    let pool = pools
                        .entry(del.kind.clone())
                        .or_insert_with(|| start_pool(d.per_channel, &notifiers, policy, &done));
                    if let Ok(mut q) = pool.queue.lock() {
                        q.push_back(del);
                    }
                    let _ = pool.signal.send(());
                }
            }
            Err(()) => stats.storage_errors += 1,
        }
        let next = next_due();
        // Done when finishing and nothing in flight is left and nothing falls due before the deadline.
        if let Some(dl) = deadline {
            let remaining = i64::try_from(dl.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(0);
            let more_soon = next.is_some_and(|t| t <= now_ms() + remaining);
            if (in_flight.is_empty() && !more_soon) || Instant::now() >= dl {
                break;
            }
        }
        let mut wait = d.poll;
        if let Some(t) = next {
            wait = wait.min(Duration::from_millis(
                u64::try_from((t - now_ms()).max(5)).unwrap_or(5),
            ));
        }
        if let Some(dl) = deadline {
            wait = wait.min(dl.saturating_duration_since(Instant::now()));
        }
        match rx.recv_timeout(wait) {
            Ok(Msg::Wake) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Msg::Finish(dl)) => deadline = Some(dl),
            Ok(Msg::Done(u)) => {
                record(&storage, &u, &mut stats, &mut in_flight);
                // Drain other finished sends without waiting.
                while let Ok(m) = rx.try_recv() {
                    match m {
                        Msg::Done(u) => record(&storage, &u, &mut stats, &mut in_flight),
                        Msg::Finish(dl) => deadline = Some(dl),
                        Msg::Wake => {}
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    stats.pending = storage
        .lock()
        .ok()
        .and_then(|s| s.list_deliveries(Some(DeliveryStatus::Pending), 0).ok())
        .map_or(0, |v| v.len() as u64);
    stats
}

fn record<S: Storage>(
    storage: &Arc<Mutex<S>>,
    u: &DeliveryUpdate,
    stats: &mut DispatchStats,
    in_flight: &mut HashSet<String>,
) {
    stats.attempts += 1;
    match u.status {
        DeliveryStatus::Delivered => stats.delivered += 1,
        DeliveryStatus::Pending => stats.retried += 1,
        DeliveryStatus::Failed => stats.failed += 1,
    }
    let ok = storage
        .lock()
        .map_err(|_| ())
        .and_then(|mut s| s.update_delivery(u).map_err(|_| ()));
    if ok.is_err() {
        stats.storage_errors += 1;
    }
    in_flight.remove(&u.id);
}

fn start_pool(
    n: usize,
    notifiers: &Arc<HashMap<String, Arc<dyn Notifier>>>,
    policy: RetryPolicy,
    done: &Sender<Msg>,
) -> Pool {
    let queue: Arc<Mutex<VecDeque<Delivery>>> = Arc::new(Mutex::new(VecDeque::new()));
    let (signal, wakeups) = mpsc::channel::<()>();
    let wakeups = Arc::new(Mutex::new(wakeups));
    for i in 0..n {
        let (queue, wakeups, notifiers, done) = (
            Arc::clone(&queue),
            Arc::clone(&wakeups),
            Arc::clone(notifiers),
            done.clone(),
        );
        let _ = std::thread::Builder::new()
            .name(format!("trailalerts-send-{i}"))
            .spawn(move || {
                loop {
                    // One wake-up per queued delivery; the sender side closing ends the worker.
                    let woke = wakeups.lock().map(|w| w.recv().is_ok()).unwrap_or(false);
                    if !woke {
                        break;
                    }
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    if let Some(del) = next {
                        let u = attempt(&notifiers, &policy, &del, now_ms());
                        if done.send(Msg::Done(u)).is_err() {
                            break;
                        }
                    }
                }
            });
    }
    Pool { queue, signal }
}
