//! `trailalerts`: scan CloudTrail log archives for alerts.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use trailalerts::{AlertDef, AlertResult, AwsRanges, Engine, EngineBuilder, IgnoreDef};
use trailalerts_adapters::files::{ScanProblem, ScanSummary, scan_paths};

mod output;

#[derive(Parser)]
#[command(name = "trailalerts", version, about = "Raise alerts from AWS CloudTrail activity")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan CloudTrail log files (.json, .json.gz, JSON Lines) and directories.
    Scan(ScanArgs),
    /// List, show or validate alert definitions.
    #[command(subcommand)]
    Alerts(AlertsCommand),
}

#[derive(Args, Clone)]
struct AlertSource {
    /// Alert definitions: a JSON file (one alert or an array) or a directory of them. Repeatable.
    #[arg(long = "alerts", value_name = "PATH")]
    alerts: Vec<PathBuf>,
    /// Do not load the built-in catalog.
    #[arg(long)]
    no_builtin: bool,
    /// Turn off alerts by id (comma-separated or repeated).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    disable: Vec<String>,
    /// Turn on alerts that are off by default, by id (comma-separated or repeated).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    enable: Vec<String>,
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
        /// Only the built-in catalog.
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Scan(a) => scan(a),
        Command::Alerts(c) => alerts(c),
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

/// Loads custom alert definitions; `copy_of` may name built-ins and earlier alerts.
fn load_alerts(paths: &[PathBuf]) -> Result<Vec<AlertDef>, Fatal> {
    let mut known = trailalerts::builtin_alerts();
    let mut custom = Vec::new();
    for p in paths {
        for f in alert_files(p)? {
            let text = std::fs::read_to_string(&f).map_err(|e| Fatal(2, format!("{}: {e}", f.display())))?;
            let defs = AlertDef::parse_many(&text, &known).map_err(|e| Fatal(2, format!("{}: {e}", f.display())))?;
            known.extend(defs.iter().cloned());
            custom.extend(defs);
        }
    }
    Ok(custom)
}

fn builder(src: &AlertSource) -> Result<EngineBuilder, Fatal> {
    let mut b = Engine::builder().builtin(!src.no_builtin).alerts(load_alerts(&src.alerts)?);
    for id in &src.disable {
        b = b.disable(id.clone());
    }
    Ok(b)
}

fn build(b: EngineBuilder) -> Result<Engine, Fatal> {
    b.build().map_err(|e| Fatal(2, e.to_string()))
}

/// Builds the engine for `src`, applying `--enable` (after `--disable`, so naming an id in both
/// leaves it on).
fn engine_for(src: &AlertSource, b: EngineBuilder) -> Result<Engine, Fatal> {
    let mut engine = build(b)?;
    for id in &src.enable {
        if !engine.set_enabled(id, true) {
            return Err(Fatal(2, format!("--enable: no alert with id `{id}`")));
        }
    }
    for id in &src.disable {
        if engine.alert(id).is_none() {
            return Err(Fatal(2, format!("--disable: no alert with id `{id}`")));
        }
    }
    Ok(engine)
}

fn load_ignores(paths: &[PathBuf]) -> Result<Vec<IgnoreDef>, Fatal> {
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|e| Fatal(2, format!("{}: {e}", p.display())))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Fatal(2, format!("{}: not valid JSON: {e}", p.display())))?;
        let items = match v {
            serde_json::Value::Array(a) => a,
            other => vec![other],
        };
        for (i, item) in items.into_iter().enumerate() {
            let ig: IgnoreDef = serde_json::from_value(item).map_err(|e| Fatal(2, format!("{}: ignore #{i}: {e}", p.display())))?;
            out.push(ig);
        }
    }
    Ok(out)
}

fn scan(a: ScanArgs) -> Result<ExitCode, Fatal> {
    let mut b = builder(&a.source)?;
    for ig in load_ignores(&a.ignores)? {
        b = b.global_ignore(ig);
    }
    if let Some(p) = &a.aws_ip_ranges {
        let text = std::fs::read_to_string(p).map_err(|e| Fatal(2, format!("{}: {e}", p.display())))?;
        b = b.aws_ip_ranges(AwsRanges::from_json(&text).map_err(|e| Fatal(2, format!("{}: {e}", p.display())))?);
    }
    let mut engine = engine_for(&a.source, b)?;
    let enabled = engine.alerts().filter(|d| d.enabled).count();
    let stdout = std::io::stdout();
    let mut out = output::ResultWriter::new(stdout.lock(), a.output);
    let progress = !a.quiet && std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut problems = 0u64;
    let mut write_error: Option<std::io::Error> = None;
    let quiet = a.quiet;
    let summary = scan_paths(
        &mut engine,
        &a.paths,
        &mut |r: AlertResult| {
            if write_error.is_none()
                && let Err(e) = out.write(&r)
            {
                write_error = Some(e);
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
        &mut |s: &ScanSummary, total: usize| {
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
    )
    .map_err(|e| Fatal(1, e.to_string()))?;
    if progress {
        eprint!("\r\x1b[K");
    }
    out.finish().map_err(|e| Fatal(1, format!("writing results: {e}")))?;
    if let Some(e) = write_error {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Fatal(1, format!("writing results: {e}")));
        }
    }
    if !a.quiet {
        print_summary(&summary, &engine, enabled, started.elapsed().as_secs_f64());
    }
    if summary.files == 0 {
        return Err(Fatal(1, "nothing could be read: no log files found in the given paths".into()));
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
        let _ = writeln!(e, "Skipped directory entries (not log files): {}", s.skipped_entries);
    }
    let _ = writeln!(e, "Bad records: {}", s.bad_records);
    let st = engine.stats();
    if st.ignored > 0 {
        let _ = writeln!(e, "Silenced by ignores: {}", st.ignored);
    }
    if st.untimed > 0 {
        let _ = writeln!(e, "Events without eventTime (not counted toward thresholds): {}", st.untimed);
    }
    let _ = writeln!(e, "Results: {}", s.results);
    let mut rows: Vec<(&String, &u64)> = s.results_by_alert.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (id, n) in rows {
        let risk = engine.alert(id).map_or("", |d| d.risk.as_str());
        let _ = writeln!(e, "  {n:>7}  {risk:<8}  {id}");
    }
}

fn alerts(c: AlertsCommand) -> Result<ExitCode, Fatal> {
    match c {
        AlertsCommand::List { source, builtin, output } => {
            let defs: Vec<AlertDef> = if builtin {
                trailalerts::builtin_alerts()
            } else {
                engine_for(&source, builder(&source)?)?.alerts().cloned().collect()
            };
            let stdout = std::io::stdout();
            let mut o = stdout.lock();
            let r = match output {
                ListFormat::Json => serde_json::to_writer_pretty(&mut o, &defs).map_err(std::io::Error::other).and_then(|()| writeln!(o)),
                ListFormat::Table => output::alert_table(&mut o, &defs),
            };
            r.map_err(|e| Fatal(1, e.to_string()))?;
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Show { id, source } => {
            let engine = engine_for(&source, builder(&source)?)?;
            let def = engine.alert(&id).ok_or_else(|| Fatal(2, format!("no alert with id `{id}`")))?;
            let text = serde_json::to_string_pretty(def).map_err(|e| Fatal(1, e.to_string()))?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Validate { paths } => {
            let defs = load_alerts(&paths)?;
            build(Engine::builder().builtin(true).alerts(defs.clone()))?;
            println!("{} alert definition(s) are valid", defs.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
