//! `trailalerts`: scan CloudTrail log archives for alerts, keep results and ignores in SQLite.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use trailalerts::{
    AlertDef, AlertResult, AwsRanges, Batch, Engine, EngineBuilder, IgnoreDef, Storage,
};
use trailalerts_adapters::files::{ScanProblem, ScanSummary, scan_paths_on};
use trailalerts_adapters::sqlite::SqliteStorage;

// Results and parsed events are many small, short-lived allocations; mimalloc makes batch
// evaluation ~20% faster than the system allocator (see benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod db;
mod notify;
mod output;
mod watch;

#[derive(Parser)]
#[command(
    name = "trailalerts",
    version,
    about = "Raise alerts from AWS CloudTrail activity"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan CloudTrail log files (.json, .json.gz, JSON Lines) and directories.
    Scan(ScanArgs),
    /// Search, show and export stored results (needs --db).
    Results(db::ResultsArgs),
    /// List, add, edit and remove ignores (needs --db).
    #[command(subcommand)]
    Ignores(db::IgnoresCommand),
    /// Create an ignore from a stored result, keyed on some of its event's fields.
    IgnoreResult(db::IgnoreResultArgs),
    /// List, show, validate, enable, disable, copy, import and export alert definitions.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Watch an SQS queue (S3 notifications, SNS, EventBridge) and alert continuously.
    Watch(watch::WatchArgs),
    /// The notification outbox: list deliveries, send pending ones, retry failed ones (needs --db).
    #[command(subcommand)]
    Notifications(notify::NotificationsCommand),
}

#[derive(Args, Clone, Default)]
struct AlertSource {
    /// Alert definitions: a JSON file (one alert or an array) or a directory of them. Repeatable.
    #[arg(long = "alerts", value_name = "PATH")]
    alerts: Vec<PathBuf>,
    /// Do not load the built-in catalog.
    #[arg(long)]
    no_builtin: bool,
    /// Turn off alerts by id for this run (comma-separated or repeated).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    disable: Vec<String>,
    /// Turn on alerts that are off, by id, for this run (comma-separated or repeated).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    enable: Vec<String>,
    /// SQLite database: its stored alerts, on/off switches and ignores apply; `scan` and `watch` store results there.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
}

#[derive(Args)]
struct ScanArgs {
    #[command(flatten)]
    source: AlertSource,
    /// Result format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Global ignores: a JSON file with one ignore or an array of them.
    #[arg(long, value_name = "FILE")]
    ignores: Vec<PathBuf>,
    /// AWS's ip-ranges.json, so `exclude_aws` also drops calls from AWS addresses.
    #[arg(long, value_name = "FILE")]
    aws_ip_ranges: Option<PathBuf>,
    /// Print only results (no summary on stderr).
    #[arg(long, short)]
    quiet: bool,
    /// Files evaluated at once (default: one per core). Output does not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Do not send the alerts' notifications.
    #[arg(long)]
    no_notify: bool,
    /// After the scan, wait at most this long for notifications to be delivered; with --db what
    /// is left stays pending for `trailalerts notifications deliver`.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    notify_timeout: u64,
    #[command(flatten)]
    delivery: notify::DeliveryOpts,
    /// Log files or directories to scan.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// List alerts.
    List {
        #[command(flatten)]
        source: AlertSource,
        /// Only the built-in catalog, as shipped.
        #[arg(long)]
        builtin: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
    },
    /// Print one alert's full definition as JSON.
    Show {
        /// The alert id.
        id: String,
        #[command(flatten)]
        source: AlertSource,
    },
    /// Check alert definition files and report the first problem.
    Validate {
        /// Files or directories of alert definitions.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Turn an alert on (kept in the database).
    Enable(db::AlertIdArgs),
    /// Turn an alert off (kept in the database).
    Disable(db::AlertIdArgs),
    /// Copy an alert (built-in or stored) into a new custom alert kept in the database.
    Copy(db::CopyArgs),
    /// Store alert definitions from files in the database (validated first).
    Import(db::ImportArgs),
    /// Print the database's custom alert definitions as a JSON array.
    Export(db::DbArg),
    /// Remove a custom alert from the database.
    Remove(db::AlertIdArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Jsonl,
    Csv,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    Table,
    Json,
}

/// A failure that stops the command, with its exit code.
struct Fatal(u8, String);

impl From<trailalerts::StorageError> for Fatal {
    fn from(e: trailalerts::StorageError) -> Self {
        Fatal(1, e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Scan(a) => scan(a),
        Command::Results(a) => db::results(a),
        Command::Ignores(c) => db::ignores(c),
        Command::IgnoreResult(a) => db::ignore_result(a),
        Command::Alerts(c) => alerts(c),
        Command::Notifications(c) => notify::run(c),
        Command::Watch(a) => watch::watch(a),
    };
    match r {
        Ok(code) => code,
        Err(Fatal(code, msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

fn alert_files(p: &Path) -> Result<Vec<PathBuf>, Fatal> {
    let meta = std::fs::metadata(p).map_err(|e| Fatal(2, format!("{}: {e}", p.display())))?;
    if !meta.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Fatal(2, format!("{}: {e}", d.display())))?;
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads alert definition files; `copy_of` may name built-ins, `known` alerts and earlier ones.
fn load_alerts(paths: &[PathBuf], known: &[AlertDef]) -> Result<Vec<AlertDef>, Fatal> {
    let mut known: Vec<AlertDef> = trailalerts::builtin_alerts()
        .into_iter()
        .chain(known.iter().cloned())
        .collect();
    let mut custom = Vec::new();
    for p in paths {
        for f in alert_files(p)? {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| Fatal(2, format!("{}: {e}", f.display())))?;
            let defs = AlertDef::parse_many(&text, &known)
                .map_err(|e| Fatal(2, format!("{}: {e}", f.display())))?;
            known.extend(defs.iter().cloned());
            custom.extend(defs);
        }
    }
    Ok(custom)
}

fn open_db(path: &Path) -> Result<SqliteStorage, Fatal> {
    SqliteStorage::open(path).map_err(|e| Fatal(1, e.to_string()))
}

/// Builds the engine: built-ins, the database's alerts, states and ignores, then `--alerts`
/// files, then `--disable` and `--enable` for this run.
fn engine_for(
    src: &AlertSource,
    db: Option<&SqliteStorage>,
    extra: impl FnOnce(EngineBuilder) -> Result<EngineBuilder, Fatal>,
) -> Result<Engine, Fatal> {
    let stored = match db {
        Some(s) => s.list_alerts()?,
        None => Vec::new(),
    };
    let b = extra(
        Engine::builder()
            .builtin(!src.no_builtin)
            .alerts(load_alerts(&src.alerts, &stored)?),
    )?;
    let mut engine = match db {
        Some(s) => b
            .build_with_storage(s)
            .map_err(|e| Fatal(2, e.to_string()))?,
        None => b.build().map_err(|e| Fatal(2, e.to_string()))?,
    };
    for (flag, ids, on) in [
        ("--disable", &src.disable, false),
        ("--enable", &src.enable, true),
    ] {
        for id in ids {
            if !engine.set_enabled(id, on) {
                return Err(Fatal(2, format!("{flag}: no alert with id `{id}`")));
            }
        }
    }
    Ok(engine)
}

fn load_ignores(paths: &[PathBuf]) -> Result<Vec<IgnoreDef>, Fatal> {
    let mut out = Vec::new();
    for p in paths {
        let text =
            std::fs::read_to_string(p).map_err(|e| Fatal(2, format!("{}: {e}", p.display())))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Fatal(2, format!("{}: not valid JSON: {e}", p.display())))?;
        let items = match v {
            serde_json::Value::Array(a) => a,
            other => vec![other],
        };
        for (i, item) in items.into_iter().enumerate() {
            let ig: IgnoreDef = serde_json::from_value(item)
                .map_err(|e| Fatal(2, format!("{}: ignore #{i}: {e}", p.display())))?;
            out.push(ig);
        }
    }
    Ok(out)
}

/// Now, as RFC 3339 (the CLI may read the clock; the core never does).
pub(crate) fn now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    trailalerts::format_epoch_ms(ms - ms % 1000)
}

fn scan(a: ScanArgs) -> Result<ExitCode, Fatal> {
    let mut store = a.source.db.as_deref().map(open_db).transpose()?;
    let ignores = load_ignores(&a.ignores)?;
    let ranges = match &a.aws_ip_ranges {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Fatal(2, format!("{}: {e}", p.display())))?;
            Some(
                AwsRanges::from_json(&text)
                    .map_err(|e| Fatal(2, format!("{}: {e}", p.display())))?,
            )
        }
        None => None,
    };
    let mut engine = engine_for(&a.source, store.as_ref(), |mut b| {
        for ig in ignores {
            b = b.global_ignore(ig);
        }
        if let Some(r) = ranges {
            b = b.aws_ip_ranges(r);
        }
        Ok(b)
    })?;
    engine.record_silenced(store.is_some());
    let notifier = if a.no_notify {
        None
    } else {
        notify::Notify::start(&engine, a.source.db.as_deref(), &a.delivery)?
    };
    let enabled = engine.alerts().filter(|d| d.enabled).count();
    let stdout = std::io::stdout();
    // Rust's stdout flushes at every newline: a write call per result. Results are buffered
    // and flushed after each file instead.
    let out = std::cell::RefCell::new(output::ResultWriter::new(
        std::io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        a.output,
    ));
    let progress = !a.quiet && std::io::stderr().is_terminal();
    let started = Instant::now();
    let quiet = a.quiet;
    let recorded_at = now();
    let pending: std::cell::RefCell<Vec<AlertResult>> = std::cell::RefCell::new(Vec::new());
    let mut problems = 0u64;
    let write_error: std::cell::RefCell<Option<std::io::Error>> = std::cell::RefCell::new(None);
    // When the reader of stdout goes away (`| head`) and nothing else needs the results (no
    // --db, no notifications), the scan stops instead of reading the rest of the archive.
    let reader_gone = std::sync::atomic::AtomicBool::new(false);
    let mut stored_new = 0usize;
    let mut store_error: Option<String> = None;
    let keep = store.is_some() || notifier.is_some();
    // The first write error is kept; a reader gone (`| head`) stops the scan when nothing else
    // needs the results.
    let wrote = |res: std::io::Result<()>| {
        let mut first = write_error.borrow_mut();
        if let Err(e) = res
            && first.is_none()
        {
            if e.kind() == std::io::ErrorKind::BrokenPipe && !keep {
                reader_gone.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            *first = Some(e);
        }
    };
    let mut notify_error: Option<String> = None;
    let threads = a.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    );
    let summary = scan_paths_on(
        threads,
        &mut engine,
        &a.paths,
        &mut |r: AlertResult| {
            if write_error.borrow().is_none() {
                wrote(out.borrow_mut().write(&r));
            }
            if keep {
                pending.borrow_mut().push(r);
            }
        },
        &mut |p: ScanProblem| {
            problems += 1;
            if !quiet && problems <= 50 {
                if progress {
                    eprint!("\r\x1b[K");
                }
                eprintln!("warning: {p}");
            } else if !quiet && problems == 51 {
                eprintln!("warning: more problems follow; only the count is shown below");
            }
        },
        &mut |s: &ScanSummary, total: usize, engine: &mut Engine| {
            if write_error.borrow().is_none() {
                wrote(out.borrow_mut().flush());
            }
            // Each file's results, silenced events and notifications go to the database in one
            // transaction.
            let results = std::mem::take(&mut *pending.borrow_mut());
            let deliveries = match &notifier {
                Some(_) => notify::Notify::deliveries(engine, &results),
                None => Vec::new(),
            };
            if let Some(db) = store.as_mut()
                && store_error.is_none()
            {
                let silenced = engine.take_silenced();
                let batch = Batch {
                    results: &results,
                    silenced: &silenced,
                    recorded_at: &recorded_at,
                    deliveries: &deliveries,
                    ..Batch::default()
                };
                match db.commit(&batch) {
                    Ok(o) => stored_new += o.new_results,
                    Err(e) => store_error = Some(e.to_string()),
                }
            }
            if let Some(n) = &notifier
                && !deliveries.is_empty()
                && let Err(e) = n.add(&deliveries)
            {
                notify_error = Some(e.1);
            }
            if progress {
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                eprint!(
                    "\r\x1b[K[{}/{}] files  {} events  {} results  {:.1} MB/s",
                    s.files + s.unreadable_files,
                    total,
                    s.events,
                    s.results,
                    s.bytes as f64 / 1e6 / secs
                );
            }
        },
        Some(&reader_gone),
    )
    .map_err(|e| Fatal(1, e.to_string()))?;
    if progress {
        eprint!("\r\x1b[K");
    }
    let finished = out.borrow_mut().finish();
    // A reader that stops early (`| head`) is not an error.
    if let Err(e) = finished
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(Fatal(1, format!("writing results: {e}")));
    }
    if let Some(e) = write_error.into_inner()
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(Fatal(1, format!("writing results: {e}")));
    }
    if let Some(n) = notifier {
        n.finish(std::time::Duration::from_secs(a.notify_timeout), a.quiet);
    }
    if let Some(e) = store_error {
        return Err(Fatal(1, format!("storing results: {e}")));
    }
    if let Some(e) = notify_error {
        return Err(Fatal(1, format!("queueing notifications: {e}")));
    }
    if !a.quiet {
        print_summary(&summary, &engine, enabled, started.elapsed().as_secs_f64());
        if let Some(s) = &store {
            eprintln!(
                "Stored {stored_new} new result(s) in {}",
                s.path().display()
            );
        }
    }
    if summary.files == 0 {
        return Err(Fatal(
            1,
            "nothing could be read: no log files found in the given paths".into(),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &ScanSummary, engine: &Engine, enabled: usize, secs: f64) {
    let secs = secs.max(1e-9);
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e);
    let _ = writeln!(
        e,
        "Scanned {} file(s), {:.1} MB, {} events with {} alerts in {:.2} s ({:.0} events/s, {:.1} MB/s)",
        s.files,
        s.bytes as f64 / 1e6,
        s.events,
        enabled,
        secs,
        s.events as f64 / secs,
        s.bytes as f64 / 1e6 / secs
    );
    if s.unreadable_files > 0 {
        let _ = writeln!(e, "Unreadable files: {}", s.unreadable_files);
    }
    if s.skipped_entries > 0 {
        let _ = writeln!(
            e,
            "Skipped directory entries (not log files): {}",
            s.skipped_entries
        );
    }
    let _ = writeln!(e, "Bad records: {}", s.bad_records);
    let st = engine.stats();
    if st.ignored > 0 {
        let _ = writeln!(e, "Silenced by ignores: {}", st.ignored);
    }
    if st.untimed > 0 {
        let _ = writeln!(
            e,
            "Events without eventTime (not counted toward thresholds): {}",
            st.untimed
        );
    }
    let _ = writeln!(e, "Results: {}", s.results);
    let mut rows: Vec<(&String, &u64)> = s.results_by_alert.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (id, n) in rows {
        let risk = engine.alert(id).map_or("", |d| d.risk.as_str());
        let _ = writeln!(e, "  {n:>7}  {risk:<8}  {id}");
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<ExitCode, Fatal> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Fatal(1, e.to_string()))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn alerts(c: AlertsCommand) -> Result<ExitCode, Fatal> {
    match c {
        AlertsCommand::List {
            source,
            builtin,
            output,
        } => {
            let defs: Vec<AlertDef> = if builtin {
                trailalerts::builtin_alerts()
            } else {
                let store = source.db.as_deref().map(open_db).transpose()?;
                engine_for(&source, store.as_ref(), Ok)?
                    .alerts()
                    .cloned()
                    .collect()
            };
            match output {
                ListFormat::Json => print_json(&defs),
                ListFormat::Table => {
                    let stdout = std::io::stdout();
                    output::alert_table(&mut stdout.lock(), &defs)
                        .map_err(|e| Fatal(1, e.to_string()))?;
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        AlertsCommand::Show { id, source } => {
            let store = source.db.as_deref().map(open_db).transpose()?;
            let engine = engine_for(&source, store.as_ref(), Ok)?;
            let def = engine
                .alert(&id)
                .ok_or_else(|| Fatal(2, format!("no alert with id `{id}`")))?;
            print_json(def)
        }
        AlertsCommand::Validate { paths } => {
            let defs = load_alerts(&paths, &[])?;
            Engine::builder()
                .builtin(true)
                .alerts(defs.clone())
                .build()
                .map_err(|e| Fatal(2, e.to_string()))?;
            println!("{} alert definition(s) are valid", defs.len());
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Enable(a) => db::set_enabled(&a, true),
        AlertsCommand::Disable(a) => db::set_enabled(&a, false),
        AlertsCommand::Copy(a) => db::copy_alert(&a),
        AlertsCommand::Import(a) => db::import_alerts(&a),
        AlertsCommand::Export(a) => {
            let store = open_db(&a.db)?;
            print_json(&store.list_alerts()?)
        }
        AlertsCommand::Remove(a) => {
            let mut store = open_db(&a.db.db)?;
            store.remove_alert(&a.id)?;
            eprintln!("removed alert `{}`", a.id);
            Ok(ExitCode::SUCCESS)
        }
    }
}
