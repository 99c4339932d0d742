//! Notification delivery during `scan`, and the `notifications` commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use trailalerts::{
    AlertResult, Delivery, DeliveryStatus, Engine, MemoryStorage, RetryPolicy, Storage,
    redact_config,
};
use trailalerts_adapters::notify::{DispatchStats, Dispatcher, DispatcherHandle, now_ms};
use trailalerts_adapters::sqlite::SqliteStorage;

use crate::{Fatal, open_db};

/// Where `scan` keeps deliveries until they are sent.
pub enum Outbox {
    /// In the `--db` database, committed with the results (survives a restart).
    Db(PathBuf),
    /// In memory (no `--db`): what is not delivered before exit is lost.
    Memory(Arc<Mutex<MemoryStorage>>),
}

/// Delivery running beside a scan.
pub struct Notify {
    /// Where deliveries are kept.
    pub outbox: Outbox,
    handle: DispatcherHandle,
}

/// How notifications are delivered (shared by `scan`, `watch` and `notifications deliver`).
#[derive(Args, Clone, Debug)]
pub struct DeliveryOpts {
    /// Attempts per notification before it is marked failed.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub notify_attempts: u32,
    /// Stop retrying a notification this many seconds after it was created.
    #[arg(long, default_value_t = 86_400, value_name = "SECS")]
    pub notify_max_age: u64,
    /// How long a notification being sent stays reserved; after a crash it is sent again once this passes.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub notify_lease: u64,
}

/// A dispatcher with every channel and these delivery settings.
pub fn dispatcher(o: &DeliveryOpts) -> Result<Dispatcher, Fatal> {
    let policy = RetryPolicy {
        max_attempts: o.notify_attempts.max(1),
        max_age_ms: i64::try_from(o.notify_max_age.saturating_mul(1000)).unwrap_or(i64::MAX),
        ..RetryPolicy::default()
    };
    Ok(Dispatcher::with_builtin_channels()
        .map_err(|e| Fatal(1, e.to_string()))?
        .policy(policy)
        .lease(Duration::from_secs(o.notify_lease.max(1))))
}

impl Notify {
    /// Starts delivery when any enabled alert has notifications; checks every channel type
    /// has a notifier before scanning anything.
    pub fn start(
        engine: &Engine,
        db: Option<&Path>,
        opts: &DeliveryOpts,
    ) -> Result<Option<Self>, Fatal> {
        if !engine
            .alerts()
            .any(|d| d.enabled && !d.notifications.is_empty())
        {
            return Ok(None);
        }
        let d = dispatcher(opts)?;
        let problems = d.check_alerts(engine.alerts().filter(|a| a.enabled));
        if !problems.is_empty() {
            return Err(Fatal(2, problems.join("\n")));
        }
        Ok(Some(match db {
            Some(path) => {
                // The dispatcher has its own connection, so sending never holds up the scan's writes.
                let store = Arc::new(Mutex::new(open_db(path)?));
                Self {
                    outbox: Outbox::Db(path.to_owned()),
                    handle: d.spawn(store),
                }
            }
            None => {
                let store = Arc::new(Mutex::new(MemoryStorage::new()));
                Self {
                    outbox: Outbox::Memory(Arc::clone(&store)),
                    handle: d.spawn(store),
                }
            }
        }))
    }

    /// The deliveries for a batch of results.
    pub fn deliveries(engine: &Engine, results: &[AlertResult]) -> Vec<Delivery> {
        let now = now_ms();
        results
            .iter()
            .filter_map(|r| {
                engine
                    .alert(&r.alert_id)
                    .map(|d| Delivery::for_result(d, r, now))
            })
            .flatten()
            .collect()
    }

    /// Keeps deliveries in the memory outbox (with `--db` they go in the results' commit).
    pub fn add(&self, deliveries: &[Delivery]) -> Result<(), Fatal> {
        if let Outbox::Memory(m) = &self.outbox {
            let mut s = m
                .lock()
                .map_err(|_| Fatal(1, "outbox lock poisoned".into()))?;
            s.commit(&trailalerts::Batch {
                deliveries,
                ..trailalerts::Batch::default()
            })?;
        }
        self.handle.wake();
        Ok(())
    }

    /// Waits for delivery (at most `timeout`) and reports on stderr.
    pub fn finish(self, timeout: Duration, quiet: bool) {
        let stats = self.handle.finish(timeout);
        let failed: Vec<Delivery> = match &self.outbox {
            Outbox::Memory(m) => m
                .lock()
                .ok()
                .and_then(|s| s.list_deliveries(Some(DeliveryStatus::Failed), 0).ok())
                .unwrap_or_default(),
            Outbox::Db(p) => open_db(p)
                .ok()
                .and_then(|s| s.list_deliveries(Some(DeliveryStatus::Failed), 0).ok())
                .unwrap_or_default(),
        };
        report(&stats, &failed, &self.outbox, quiet);
    }
}

fn report(stats: &DispatchStats, failed: &[Delivery], outbox: &Outbox, quiet: bool) {
    if !quiet || stats.failed > 0 || stats.pending > 0 {
        eprintln!(
            "Notifications: {} delivered, {} failed, {} pending ({} attempts)",
            stats.delivered, stats.failed, stats.pending, stats.attempts
        );
    }
    for d in failed.iter().take(20) {
        eprintln!(
            "warning: {} notification for alert `{}` failed: {}",
            d.channel,
            d.alert_id,
            d.last_error.as_deref().unwrap_or("unknown error")
        );
    }
    if stats.pending > 0 {
        match outbox {
            Outbox::Db(p) => eprintln!(
                "warning: {} notification(s) still pending; they are kept in {} and sent by `trailalerts notifications deliver --db {}`",
                stats.pending,
                p.display(),
                p.display()
            ),
            Outbox::Memory(_) => {
                eprintln!(
                    "warning: {} notification(s) could not be delivered before exit and are lost; use --db to keep them",
                    stats.pending
                );
            }
        }
    }
}

#[derive(Subcommand)]
pub enum NotificationsCommand {
    /// List deliveries in the outbox (secrets redacted).
    List {
        /// The SQLite database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// Only deliveries with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListOutput::Table)]
        output: ListOutput,
    },
    /// Send pending deliveries now (including retries as they fall due) and wait for them.
    Deliver {
        /// The SQLite database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// Stop waiting after this many seconds; what is left stays pending.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        timeout: u64,
        #[command(flatten)]
        delivery: DeliveryOpts,
    },
    /// Forget delivered notifications older than some days (failed and pending ones are kept).
    Prune {
        /// The SQLite database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// Keep the last this many days.
        #[arg(long, default_value_t = 30, value_name = "DAYS")]
        older_than_days: u64,
    },
    /// Make failed deliveries pending again (one by id, or all with --all).
    Retry {
        /// The SQLite database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// The delivery id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every failed delivery.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Pending,
    Delivered,
    Failed,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ListOutput {
    Table,
    Jsonl,
}

fn status(s: StatusArg) -> DeliveryStatus {
    match s {
        StatusArg::Pending => DeliveryStatus::Pending,
        StatusArg::Delivered => DeliveryStatus::Delivered,
        StatusArg::Failed => DeliveryStatus::Failed,
    }
}

/// The delivery as shown: secrets redacted, the raw event left out.
fn shown(d: &Delivery) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "status": d.status,
        "channel": d.channel,
        "type": d.kind,
        "alert_id": d.alert_id,
        "result_id": d.result_id,
        "event_id": d.result.event_id,
        "attempts": d.attempts,
        "created": trailalerts::format_epoch_ms(d.created_ms),
        "next_attempt": (d.status == DeliveryStatus::Pending).then(|| trailalerts::format_epoch_ms(d.next_attempt_ms)),
        "last_error": d.last_error,
        "config": redact_config(&d.config),
    })
}

pub fn run(c: NotificationsCommand) -> Result<ExitCode, Fatal> {
    match c {
        NotificationsCommand::List {
            db,
            status: st,
            output,
        } => {
            let s = open_db(&db)?;
            let list = s.list_deliveries(st.map(status), 0)?;
            if output == ListOutput::Jsonl {
                for d in &list {
                    println!("{}", shown(d));
                }
            } else {
                println!(
                    "{:<32}  {:<9}  {:<12}  {:<40}  {:>8}  LAST ERROR",
                    "ID", "STATUS", "CHANNEL", "ALERT", "ATTEMPTS"
                );
                for d in &list {
                    let err: String =
                        trailalerts::render::clean(d.last_error.as_deref().unwrap_or("-"), 80);
                    println!(
                        "{:<32}  {:<9}  {:<12}  {:<40}  {:>8}  {err}",
                        d.id,
                        d.status.as_str(),
                        d.channel,
                        d.alert_id,
                        d.attempts
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NotificationsCommand::Deliver {
            db,
            timeout,
            delivery,
        } => {
            let store = Arc::new(Mutex::new(open_db(&db)?));
            let stats = dispatcher(&delivery)?
                .spawn(Arc::clone(&store))
                .finish(Duration::from_secs(timeout));
            let failed = store
                .lock()
                .ok()
                .and_then(|s| s.list_deliveries(Some(DeliveryStatus::Failed), 0).ok())
                .unwrap_or_default();
            report(&stats, &failed, &Outbox::Db(db), false);
            Ok(if stats.failed > 0 || stats.pending > 0 {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        NotificationsCommand::Prune {
            db,
            older_than_days,
        } => {
            let mut s: SqliteStorage = open_db(&db)?;
            let days = i64::try_from(older_than_days).unwrap_or(i64::MAX / 86_400_000);
            let n = s.prune_deliveries(now_ms().saturating_sub(days.saturating_mul(86_400_000)))?;
            eprintln!("forgot {n} delivered notification(s) older than {older_than_days} days");
            Ok(ExitCode::SUCCESS)
        }
        NotificationsCommand::Retry { db, id, all } => {
            let mut s: SqliteStorage = open_db(&db)?;
            let n = s.retry_deliveries(if all { None } else { id.as_deref() }, now_ms())?;
            eprintln!(
                "{n} delivery(ies) pending again; send them with `trailalerts notifications deliver --db {}`",
                db.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
