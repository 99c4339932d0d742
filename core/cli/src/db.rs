//! Commands that work on a SQLite database: results, ignores, alert state.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use trailalerts::export::{self, Column};
use trailalerts::{
    AlertDef, IgnoreDef, IgnoreKey, PathValue, ResultQuery, Risk, SortField, Storage,
    ignore_from_result,
};

use crate::{Fatal, Format, load_alerts, now, open_db, print_json};

#[derive(Args)]
pub struct DbArg {
    /// The SQLite database.
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ResultsArgs {
    #[command(subcommand)]
    command: Option<ResultsCommand>,
    #[command(flatten)]
    search: SearchArgs,
}

#[derive(Subcommand)]
enum ResultsCommand {
    /// Print one result with its raw CloudTrail event.
    Show {
        /// The result id.
        id: String,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Args)]
struct SearchArgs {
    /// The SQLite database.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Alert ids (comma-separated or repeated).
    #[arg(long = "alert", value_name = "ID", value_delimiter = ',')]
    alerts: Vec<String>,
    /// Risks (comma-separated or repeated): low, medium, high, critical.
    #[arg(long = "risk", value_name = "RISK", value_delimiter = ',')]
    risks: Vec<String>,
    /// Earliest event time (RFC 3339, inclusive).
    #[arg(long)]
    since: Option<String>,
    /// Latest event time (RFC 3339, exclusive).
    #[arg(long)]
    until: Option<String>,
    /// Region glob.
    #[arg(long)]
    region: Option<String>,
    /// Service glob (`iam` means iam.amazonaws.com).
    #[arg(long)]
    service: Option<String>,
    /// Event name glob.
    #[arg(long)]
    event: Option<String>,
    /// User glob.
    #[arg(long)]
    user: Option<String>,
    /// Source IP address or CIDR.
    #[arg(long)]
    source_ip: Option<String>,
    /// Error code glob.
    #[arg(long)]
    error_code: Option<String>,
    /// Free text searched in the raw event (case-insensitive).
    #[arg(long)]
    text: Option<String>,
    /// Sort column (event_time, recorded_at, risk, alert_id, alert_name, event_name, service, region, user, source_ip, error_code, account_id, event_id, count).
    #[arg(long, default_value = "event_time")]
    sort: String,
    /// Descending order.
    #[arg(long)]
    desc: bool,
    /// At most this many results (0: all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Continue after a previous page (the cursor it printed on stderr).
    #[arg(long)]
    cursor: Option<String>,
    /// Columns to show (comma-separated): id, raw, notifications and the sort columns.
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

fn parse_risk(s: &str) -> Result<Risk, Fatal> {
    s.parse::<Risk>()
        .map_err(|e| Fatal(2, format!("--risk: {e}")))
}

pub fn results(a: ResultsArgs) -> Result<ExitCode, Fatal> {
    if let Some(ResultsCommand::Show { id, db }) = a.command {
        let store = open_db(&db.db)?;
        let r = store
            .get_result(&id)
            .map_err(|e| Fatal(if e.code() == "not_found" { 2 } else { 1 }, e.to_string()))?;
        let mut v = serde_json::to_value(&r).map_err(|e| Fatal(1, e.to_string()))?;
        // Pretty-print the raw event as an object, not a string of JSON.
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "raw".into(),
                serde_json::from_str(r.result.raw.get()).unwrap_or(serde_json::Value::Null),
            );
        }
        return print_json(&v);
    }
    let s = a.search;
    let Some(db) = &s.db else {
        return Err(Fatal(2, "results needs --db PATH".into()));
    };
    let store = open_db(db)?;
    let sort = SortField::parse(&s.sort)
        .ok_or_else(|| Fatal(2, format!("--sort: unknown column `{}`", s.sort)))?;
    let columns: Vec<Column> = if s.columns.is_empty() {
        match s.output {
            Format::Table => [
                "event_time",
                "risk",
                "alert_id",
                "event_name",
                "user",
                "region",
                "source_ip",
                "count",
                "id",
            ]
            .iter()
            .filter_map(|c| Column::parse(c))
            .collect(),
            Format::Jsonl => {
                let mut c = Column::defaults();
                c.push(Column::Raw);
                c
            }
            Format::Csv => Column::defaults(),
        }
    } else {
        s.columns
            .iter()
            .map(|c| {
                Column::parse(c).ok_or_else(|| Fatal(2, format!("--columns: unknown column `{c}`")))
            })
            .collect::<Result<_, _>>()?
    };
    let q = ResultQuery {
        alert_ids: s.alerts.clone(),
        risks: s
            .risks
            .iter()
            .map(|r| parse_risk(r))
            .collect::<Result<_, _>>()?,
        since: s.since.clone(),
        until: s.until.clone(),
        region: s.region.clone(),
        service: s.service.clone(),
        event: s.event.clone(),
        user: s.user.clone(),
        source_ip: s.source_ip.clone(),
        error_code: s.error_code.clone(),
        text: s.text.clone(),
        sort,
        desc: s.desc,
        limit: s.limit,
        cursor: s.cursor.clone(),
    };
    let page = store.query_results(&q).map_err(|e| {
        Fatal(
            if e.code() == "invalid_request" { 2 } else { 1 },
            e.to_string(),
        )
    })?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    use std::io::Write;
    let r = (|| -> std::io::Result<()> {
        match s.output {
            Format::Jsonl => {
                for r in &page.results {
                    writeln!(w, "{}", export::json_line(r, &columns))?;
                }
            }
            Format::Csv => {
                write!(w, "{}", export::csv_header(&columns))?;
                for r in &page.results {
                    write!(w, "{}", export::csv_row(r, &columns))?;
                }
            }
            Format::Table => crate::output::stored_table(&mut w, &page.results, &columns)?,
        }
        w.flush()
    })();
    if let Err(e) = r
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(Fatal(1, e.to_string()));
    }
    if let Some(c) = page.next_cursor {
        eprintln!("more results: add --cursor {c}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum IgnoresCommand {
    /// List ignores with how many results each silenced.
    List {
        #[command(flatten)]
        db: DbArg,
        /// Only this alert's ignores.
        #[arg(long)]
        alert: Option<String>,
        /// Only global ignores.
        #[arg(long, conflicts_with = "alert")]
        global: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::ListFormat::Table)]
        output: crate::ListFormat,
    },
    /// Add an ignore (to an alert with --alert, else global).
    Add(IgnoreFields),
    /// Change fields of an existing ignore (fields not given stay as they are).
    Edit(IgnoreFields),
    /// Remove an ignore. Results it silenced stay silenced; new events are no longer silenced.
    Remove {
        /// The ignore id.
        id: String,
        #[command(flatten)]
        db: DbArg,
        /// The alert it belongs to (omit for a global ignore).
        #[arg(long)]
        alert: Option<String>,
    },
}

#[derive(Args)]
pub struct IgnoreFields {
    /// The ignore id (optional for `add`: derived from the fields).
    id: Option<String>,
    #[command(flatten)]
    db: DbArg,
    /// The alert it belongs to (omit for a global ignore).
    #[arg(long)]
    alert: Option<String>,
    /// Region glob.
    #[arg(long)]
    region: Option<String>,
    /// Service glob.
    #[arg(long)]
    service: Option<String>,
    /// Event name glob.
    #[arg(long)]
    event: Option<String>,
    /// User glob.
    #[arg(long)]
    user: Option<String>,
    /// Identity type glob (AWSService, AssumedRole, Root…).
    #[arg(long)]
    identity_type: Option<String>,
    /// A request parameter: PATH=GLOB.
    #[arg(long, value_name = "PATH=GLOB")]
    request_parameter: Option<String>,
    /// A response element: PATH=GLOB.
    #[arg(long, value_name = "PATH=GLOB")]
    response_element: Option<String>,
    /// Why it exists.
    #[arg(long)]
    note: Option<String>,
    /// Who created it (default: $USER).
    #[arg(long)]
    created_by: Option<String>,
}

/// A readable id from the fields an ignore sets, e.g. `event-CreateUser-user-ci-bot`.
fn derived_ignore_id(f: &IgnoreFields) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("region", &f.region),
        ("service", &f.service),
        ("event", &f.event),
        ("user", &f.user),
        ("identity", &f.identity_type),
    ] {
        if let Some(v) = v {
            let clean: String = v
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            parts.push(format!("{k}-{}", clean.trim_matches('-')));
        }
    }
    if parts.is_empty() {
        parts.push("ignore".into());
    }
    let id = parts.join("-");
    id.chars().take(64).collect()
}

fn path_value(flag: &str, s: &str) -> Result<PathValue, Fatal> {
    let (path, value) = s
        .split_once('=')
        .ok_or_else(|| Fatal(2, format!("--{flag}: expected PATH=GLOB, got `{s}`")))?;
    Ok(PathValue {
        path: path.trim().to_owned(),
        value: value.to_owned(),
    })
}

fn creator(given: &Option<String>) -> Option<String> {
    given
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
}

/// Validates an ignore against the alert it belongs to, then stores it.
fn store_ignore(
    store: &mut trailalerts_adapters::sqlite::SqliteStorage,
    ig: &IgnoreDef,
) -> Result<(), Fatal> {
    let mut engine = crate::engine_for(&crate::AlertSource::default(), Some(store), Ok)?;
    if let Some(a) = ig.alert_id.as_deref()
        && engine.alert(a).is_none()
    {
        return Err(Fatal(2, format!("--alert: no alert with id `{a}`")));
    }
    engine
        .add_ignore(ig.alert_id.as_deref(), ig)
        .map_err(|e| Fatal(2, e.to_string()))?;
    store.put_ignore(ig)?;
    Ok(())
}

pub fn ignores(c: IgnoresCommand) -> Result<ExitCode, Fatal> {
    match c {
        IgnoresCommand::List {
            db,
            alert,
            global,
            output,
        } => {
            let store = open_db(&db.db)?;
            let filter = if global {
                Some(None)
            } else {
                alert.as_deref().map(Some)
            };
            let list = store.list_ignores(filter)?;
            match output {
                crate::ListFormat::Json => print_json(&list),
                crate::ListFormat::Table => {
                    let stdout = std::io::stdout();
                    crate::output::ignore_table(&mut stdout.lock(), &list)
                        .map_err(|e| Fatal(1, e.to_string()))?;
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        IgnoresCommand::Add(f) => {
            let mut store = open_db(&f.db.db)?;
            let id = f.id.clone().unwrap_or_else(|| derived_ignore_id(&f));
            if store
                .list_ignores(Some(f.alert.as_deref()))?
                .iter()
                .any(|i| i.ignore.id == id)
            {
                return Err(Fatal(
                    2,
                    format!("ignore `{id}` exists; use `ignores edit`"),
                ));
            }
            let ig = IgnoreDef {
                id,
                alert_id: f.alert.clone(),
                region: f.region.clone(),
                service: f.service.clone(),
                event: f.event.clone(),
                user: f.user.clone(),
                identity_type: f.identity_type.clone(),
                request_parameter: f
                    .request_parameter
                    .as_deref()
                    .map(|s| path_value("request-parameter", s))
                    .transpose()?,
                response_element: f
                    .response_element
                    .as_deref()
                    .map(|s| path_value("response-element", s))
                    .transpose()?,
                note: f.note.clone(),
                created_by: creator(&f.created_by),
                created_at: Some(now()),
            };
            store_ignore(&mut store, &ig)?;
            eprintln!(
                "added ignore `{}`{}",
                ig.id,
                ig.alert_id
                    .as_deref()
                    .map(|a| format!(" to alert `{a}`"))
                    .unwrap_or_else(|| " (global)".into())
            );
            Ok(ExitCode::SUCCESS)
        }
        IgnoresCommand::Edit(f) => {
            let mut store = open_db(&f.db.db)?;
            let Some(id) = f.id.clone() else {
                return Err(Fatal(2, "ignores edit needs the ignore id".into()));
            };
            let existing = store
                .list_ignores(Some(f.alert.as_deref()))?
                .into_iter()
                .find(|i| i.ignore.id == id)
                .ok_or_else(|| {
                    Fatal(
                        2,
                        format!(
                            "no ignore `{id}`{}",
                            f.alert
                                .as_deref()
                                .map(|a| format!(" on alert `{a}`"))
                                .unwrap_or_default()
                        ),
                    )
                })?;
            let mut ig = existing.ignore;
            let set = |slot: &mut Option<String>, v: &Option<String>| {
                if let Some(v) = v {
                    *slot = if v.is_empty() { None } else { Some(v.clone()) };
                }
            };
            set(&mut ig.region, &f.region);
            set(&mut ig.service, &f.service);
            set(&mut ig.event, &f.event);
            set(&mut ig.user, &f.user);
            set(&mut ig.identity_type, &f.identity_type);
            set(&mut ig.note, &f.note);
            if let Some(s) = &f.request_parameter {
                ig.request_parameter = if s.is_empty() {
                    None
                } else {
                    Some(path_value("request-parameter", s)?)
                };
            }
            if let Some(s) = &f.response_element {
                ig.response_element = if s.is_empty() {
                    None
                } else {
                    Some(path_value("response-element", s)?)
                };
            }
            store_ignore(&mut store, &ig)?;
            eprintln!("updated ignore `{}`", ig.id);
            Ok(ExitCode::SUCCESS)
        }
        IgnoresCommand::Remove { id, db, alert } => {
            let mut store = open_db(&db.db)?;
            store
                .remove_ignore(alert.as_deref(), &id)
                .map_err(|e| Fatal(if e.code() == "not_found" { 2 } else { 1 }, e.to_string()))?;
            eprintln!("removed ignore `{id}`");
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Args)]
pub struct IgnoreResultArgs {
    /// The result id (see `trailalerts results`).
    result_id: String,
    /// Fields to key on (comma-separated): region, service, event, user, request_parameter:PATH, response_element:PATH.
    #[arg(long, value_delimiter = ',', required = true)]
    by: Vec<String>,
    #[command(flatten)]
    db: DbArg,
    /// The new ignore's id (default: derived from the result).
    #[arg(long)]
    id: Option<String>,
    /// Why it exists.
    #[arg(long)]
    note: Option<String>,
    /// Who creates it (default: $USER).
    #[arg(long)]
    created_by: Option<String>,
    /// Override the pre-filled region with a glob.
    #[arg(long)]
    region: Option<String>,
    /// Override the pre-filled service with a glob.
    #[arg(long)]
    service: Option<String>,
    /// Override the pre-filled event name with a glob.
    #[arg(long)]
    event: Option<String>,
    /// Override the pre-filled user with a glob (e.g. `arn:aws:sts::*:assumed-role/CiDeploy/*`).
    #[arg(long)]
    user: Option<String>,
}

pub fn ignore_result(a: IgnoreResultArgs) -> Result<ExitCode, Fatal> {
    let mut store = open_db(&a.db.db)?;
    let stored = store
        .get_result(&a.result_id)
        .map_err(|e| Fatal(if e.code() == "not_found" { 2 } else { 1 }, e.to_string()))?;
    let keys: Vec<IgnoreKey> =
        a.by.iter()
            .map(|k| IgnoreKey::parse(k))
            .collect::<Result<_, _>>()
            .map_err(|e| Fatal(2, format!("--by: {e}")))?;
    let id =
        a.id.clone()
            .unwrap_or_else(|| format!("from-{}", a.result_id.get(..12).unwrap_or(&a.result_id)));
    let mut ig = ignore_from_result(&stored, &keys, &id).map_err(|e| Fatal(2, e.to_string()))?;
    for (slot, v) in [
        (&mut ig.region, &a.region),
        (&mut ig.service, &a.service),
        (&mut ig.event, &a.event),
        (&mut ig.user, &a.user),
    ] {
        if let Some(v) = v {
            *slot = Some(v.clone());
        }
    }
    ig.note = a.note.clone();
    ig.created_by = creator(&a.created_by);
    ig.created_at = Some(now());
    store_ignore(&mut store, &ig)?;
    eprintln!(
        "added ignore `{}` to alert `{}`:",
        ig.id, stored.result.alert_id
    );
    print_json(&ig)
}

#[derive(Args)]
pub struct AlertIdArgs {
    /// The alert id.
    pub id: String,
    #[command(flatten)]
    pub db: DbArg,
}

pub fn set_enabled(a: &AlertIdArgs, on: bool) -> Result<ExitCode, Fatal> {
    let mut store = open_db(&a.db.db)?;
    let engine = crate::engine_for(&crate::AlertSource::default(), Some(&store), Ok)?;
    if engine.alert(&a.id).is_none() {
        return Err(Fatal(2, format!("no alert with id `{}`", a.id)));
    }
    store.set_alert_enabled(&a.id, on)?;
    eprintln!("alert `{}` is {}", a.id, if on { "on" } else { "off" });
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct CopyArgs {
    /// The alert to copy (a built-in or a stored alert).
    source: String,
    /// The new alert's id (default: `<source>-copy`).
    #[arg(long)]
    id: Option<String>,
    /// The new alert's name (default: "<name> (copy)").
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    db: DbArg,
}

pub fn copy_alert(a: &CopyArgs) -> Result<ExitCode, Fatal> {
    let mut store = open_db(&a.db.db)?;
    let engine = crate::engine_for(&crate::AlertSource::default(), Some(&store), Ok)?;
    let known: Vec<AlertDef> = engine.alerts().cloned().collect();
    let id = a.id.clone().unwrap_or_else(|| format!("{}-copy", a.source));
    if known.iter().any(|d| d.id == id) {
        return Err(Fatal(2, format!("an alert with id `{id}` exists already")));
    }
    let mut spec = serde_json::Map::new();
    spec.insert("copy_of".into(), a.source.clone().into());
    spec.insert("id".into(), id.clone().into());
    if let Some(n) = &a.name {
        spec.insert("name".into(), n.clone().into());
    }
    let spec = serde_json::Value::Object(spec);
    let def = AlertDef::from_value(spec, &known).map_err(|e| Fatal(2, e.to_string()))?;
    trailalerts::Engine::builder()
        .builtin(false)
        .alert(def.clone())
        .build()
        .map_err(|e| Fatal(2, e.to_string()))?;
    store.put_alert(&def)?;
    eprintln!(
        "copied `{}` to `{id}`; edit it with `alerts export`/`alerts import`",
        a.source
    );
    print_json(&def)
}

#[derive(Args)]
pub struct ImportArgs {
    /// Files or directories of alert definitions.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    db: DbArg,
}

pub fn import_alerts(a: &ImportArgs) -> Result<ExitCode, Fatal> {
    let mut store = open_db(&a.db.db)?;
    let stored = store.list_alerts()?;
    let defs = load_alerts(&a.paths, &stored)?;
    // Validate the whole set (built-ins + stored + new) before writing anything.
    let merged: Vec<AlertDef> = stored
        .into_iter()
        .filter(|s| !defs.iter().any(|d| d.id == s.id))
        .chain(defs.iter().cloned())
        .collect();
    trailalerts::Engine::builder()
        .alerts(merged)
        .build()
        .map_err(|e| Fatal(2, e.to_string()))?;
    for d in &defs {
        store.put_alert(d)?;
    }
    eprintln!("imported {} alert(s)", defs.len());
    Ok(ExitCode::SUCCESS)
}
