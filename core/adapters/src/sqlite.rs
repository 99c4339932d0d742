//! [`Storage`] in one SQLite file.
//!
//! - WAL mode: many processes may read while one writes; writers wait up to 10 s for the lock.
//! - `synchronous = FULL`: a committed batch survives a power cut, so a queue message can be
//!   deleted once [`Storage::commit`] returns.
//! - Every [`Storage::commit`] is one transaction: a crash or a full disk leaves the file as it
//!   was before the batch.
//! - The schema is versioned (`PRAGMA user_version`) and migrated forward on open; a file from a
//!   newer trailalerts is refused rather than damaged, and so is a SQLite file of another
//!   application (`PRAGMA application_id`).
//!
//! ```
//! use trailalerts::Storage;
//! use trailalerts_adapters::sqlite::SqliteStorage;
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = SqliteStorage::open(dir.path().join("alerts.db")).unwrap();
//! assert_eq!(store.count_results().unwrap(), 0);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, ToSql, TransactionBehavior, params};
use serde_json::Value;
use serde_json::value::RawValue;
use trailalerts::{
    AlertDef, AlertResult, Batch, CommitOutcome, Cursor, Delivery, DeliveryStatus, DeliveryUpdate,
    IgnoreDef, QueryFilter, ResultPage, ResultQuery, Risk, SortField, SortValue, Storage,
    StorageError, StoredIgnore, StoredResult, ThresholdEntry, apply_delivery_update, risk_rank,
    sort_value,
};

/// `PRAGMA application_id` of trailalerts databases ("TrAl").
pub const APPLICATION_ID: i64 = 0x5472_416c;
/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 3;

const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    r"
    CREATE TABLE results (
        id TEXT PRIMARY KEY,
        alert_id TEXT NOT NULL,
        alert_name TEXT NOT NULL,
        risk TEXT NOT NULL,
        risk_rank INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        event_time TEXT,
        event_time_ms INTEGER NOT NULL,
        event_name TEXT NOT NULL,
        event_source TEXT NOT NULL,
        region TEXT NOT NULL,
        user TEXT NOT NULL,
        user_key TEXT NOT NULL,
        source_ip TEXT NOT NULL,
        error_code TEXT NOT NULL,
        account_id TEXT NOT NULL,
        count INTEGER,
        count_key INTEGER NOT NULL,
        window_start TEXT,
        recorded_at TEXT NOT NULL,
        notifications TEXT NOT NULL DEFAULT '{}',
        raw TEXT NOT NULL
    );
    CREATE INDEX results_by_time ON results (event_time_ms, id);
    CREATE INDEX results_by_recorded ON results (recorded_at, id);
    CREATE INDEX results_by_alert ON results (alert_id, event_time_ms);
    CREATE INDEX results_by_risk ON results (risk_rank, id);
    CREATE TABLE ignores (
        alert_id TEXT NOT NULL,
        id TEXT NOT NULL,
        def TEXT NOT NULL,
        silenced INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (alert_id, id)
    );
    CREATE TABLE silenced (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ignore_alert_id TEXT NOT NULL,
        ignore_id TEXT NOT NULL,
        alert_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_time TEXT,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX silenced_by_ignore ON silenced (ignore_alert_id, ignore_id, seq);
    CREATE TABLE alerts (id TEXT PRIMARY KEY, def TEXT NOT NULL);
    CREATE TABLE alert_states (id TEXT PRIMARY KEY, enabled INTEGER NOT NULL);
    CREATE TABLE thresholds (
        alert_id TEXT NOT NULL,
        grp TEXT NOT NULL,
        times TEXT NOT NULL,
        window_ms INTEGER NOT NULL,
        PRIMARY KEY (alert_id, grp)
    );
    CREATE TABLE processed (event_id TEXT PRIMARY KEY, event_time_ms INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX processed_by_time ON processed (event_time_ms);
    ",
    // 1 -> 2: walk risk and alert filters in time order (newest-first pages stop early).
    r"
    CREATE INDEX results_by_risk_time ON results (risk_rank, event_time_ms, id);
    DROP INDEX results_by_alert;
    CREATE INDEX results_by_alert_time ON results (alert_id, event_time_ms, id);
    ",
    // 2 -> 3: the notification outbox.
    r"
    CREATE TABLE deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        result_id TEXT NOT NULL,
        alert_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        config TEXT NOT NULL,
        result TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        next_attempt_ms INTEGER NOT NULL,
        last_error TEXT
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_ms);
    ",
];

/// Storage in a SQLite file. See the module documentation.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Connection,
    path: PathBuf,
}

/// SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn backend(path: &Path, what: &str, e: &rusqlite::Error) -> StorageError {
    let detail = match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            "the file is not a SQLite database (corrupt, or another kind of file)".to_owned()
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            "the database or disk is full; nothing of this batch was written".to_owned()
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ReadOnly => {
            "the database is read-only (file permissions or a read-only mount)".to_owned()
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::CannotOpen => {
            "cannot open the file (missing directory or no permission)".to_owned()
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            "the database is locked by another writer (gave up after 10 s)".to_owned()
        }
        other => other.to_string(),
    };
    StorageError::Backend(format!("{}: {what}: {detail}", path.display()))
}

fn json_err(path: &Path, what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(format!(
        "{}: {what}: stored JSON unreadable: {e}",
        path.display()
    ))
}

fn sort_column(f: SortField) -> &'static str {
    match f {
        SortField::EventTime => "event_time_ms",
        SortField::RecordedAt => "recorded_at",
        SortField::Risk => "risk_rank",
        SortField::AlertId => "alert_id",
        SortField::AlertName => "alert_name",
        SortField::EventName => "event_name",
        SortField::EventSource => "event_source",
        SortField::Region => "region",
        SortField::User => "user_key",
        SortField::SourceIp => "source_ip",
        SortField::ErrorCode => "error_code",
        SortField::AccountId => "account_id",
        SortField::EventId => "event_id",
        SortField::Count => "count_key",
    }
}

const RESULT_COLUMNS: &str = "id, alert_id, alert_name, risk, event_id, event_time, event_name, event_source, region, user, source_ip, \
     error_code, account_id, count, window_start, recorded_at, notifications, raw";

fn parse_risk(s: &str) -> Risk {
    match s {
        "critical" => Risk::Critical,
        "high" => Risk::High,
        "medium" => Risk::Medium,
        _ => Risk::Low,
    }
}

fn row_to_result(row: &Row<'_>) -> rusqlite::Result<(StoredResult, String)> {
    let opt = |i: usize| -> rusqlite::Result<Option<String>> {
        Ok(Some(row.get::<_, String>(i)?).filter(|s| !s.is_empty()))
    };
    let raw_text: String = row.get(17)?;
    let notifications: String = row.get(16)?;
    // Stored by `commit` from a parsed event, so it is valid JSON.
    let raw: Arc<RawValue> = Arc::from(RawValue::from_string(raw_text).unwrap_or_default());
    let result = AlertResult {
        id: row.get(0)?,
        alert_id: row.get(1)?,
        alert_name: row.get(2)?,
        risk: parse_risk(&row.get::<_, String>(3)?),
        event_id: row.get(4)?,
        event_time: row.get(5)?,
        event_name: opt(6)?,
        event_source: opt(7)?,
        region: opt(8)?,
        user: row.get(9)?,
        source_ip: opt(10)?,
        error_code: opt(11)?,
        account_id: opt(12)?,
        count: row.get::<_, Option<u32>>(13)?,
        window_start: row.get(14)?,
        save: true,
        raw,
    };
    Ok((
        StoredResult {
            result,
            recorded_at: row.get(15)?,
            notifications: BTreeMap::new(),
        },
        notifications,
    ))
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path`, migrating its schema forward.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|e| backend(&path, "open", &e))?;
        let mut s = Self { conn, path };
        s.setup()?;
        Ok(s)
    }

    /// Opens an existing database for reading only (no migration; a newer schema is refused).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|e| backend(&path, "open", &e))?;
        let s = Self { conn, path };
        s.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| backend(&s.path, "configure", &e))?;
        let version = s.check_identity()?;
        if version != SCHEMA_VERSION {
            return Err(StorageError::Backend(format!(
                "{}: schema version {version}, this build reads {SCHEMA_VERSION}; open it once read-write to migrate",
                s.path.display()
            )));
        }
        Ok(s)
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Limits the database to `pages` pages (of 4 KiB by default): writes beyond fail as if the
    /// disk were full. For tests of full-disk behaviour.
    pub fn set_max_pages(&mut self, pages: u64) -> Result<(), StorageError> {
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(|e| backend(&self.path, "limit size", &e))
    }

    /// Returns the schema version after checking the file is ours.
    fn check_identity(&self) -> Result<i64, StorageError> {
        let p = &self.path;
        // One statement, so the three values come from one snapshot: another process may be
        // creating the schema right now.
        let (app, version, tables): (i64, i64, i64) = self
            .conn
            .query_row(
                "SELECT (SELECT application_id FROM pragma_application_id()), \
                        (SELECT user_version FROM pragma_user_version()), \
                        (SELECT count(*) FROM sqlite_master WHERE type = 'table')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| backend(p, "read header", &e))?;
        if app != APPLICATION_ID && (app != 0 || tables > 0) {
            return Err(StorageError::Backend(format!(
                "{}: not a trailalerts database (it belongs to another application)",
                p.display()
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(StorageError::Backend(format!(
                "{}: database schema version {version} is newer than this trailalerts supports ({SCHEMA_VERSION}); upgrade trailalerts",
                p.display()
            )));
        }
        Ok(version)
    }

    fn setup(&mut self) -> Result<(), StorageError> {
        let p = self.path.clone();
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| backend(&p, "configure", &e))?;
        let version = self.check_identity()?;
        // Switching a new file to WAL needs the file to itself; SQLite answers "busy" at once
        // (without its busy handler) while another process is opening the same new file, so
        // this waits the same 10 s itself.
        let started = std::time::Instant::now();
        let mode: String = loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            {
                Ok(mode) => break mode,
                Err(e) if is_busy(&e) && started.elapsed() < std::time::Duration::from_secs(10) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(backend(&p, "enable WAL", &e)),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Backend(format!(
                "{}: could not enable WAL (journal mode is {mode})",
                p.display()
            )));
        }
        self.conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| backend(&p, "configure", &e))?;
        if usize::try_from(version).unwrap_or(0) < MIGRATIONS.len() {
            // IMMEDIATE takes the write lock first, and the version is read again under it:
            // two processes opening a new file at once migrate it once, not twice.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| backend(&p, "migrate", &e))?;
            let current: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| backend(&p, "migrate", &e))?;
            let start = usize::try_from(current).unwrap_or(0);
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
                tx.execute_batch(sql)
                    .map_err(|e| backend(&p, &format!("migrate to schema {}", i + 1), &e))?;
            }
            tx.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(|e| backend(&p, "migrate", &e))?;
            tx.commit().map_err(|e| backend(&p, "migrate", &e))?;
        }
        // Keeps the query planner's statistics fresh (cheap; SQLite's advice for long-lived connections).
        self.conn
            .execute_batch("PRAGMA optimize = 0x10002;")
            .map_err(|e| backend(&p, "optimize", &e))?;
        Ok(())
    }

    fn query_inner(&self, q: &ResultQuery) -> Result<ResultPage, StorageError> {
        let p = &self.path;
        let filter = QueryFilter::new(q)?;
        let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
        let col = sort_column(q.sort);
        let mut wh: Vec<String> = Vec::new();
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        if !q.alert_ids.is_empty() {
            wh.push(format!(
                "alert_id IN ({})",
                vec!["?"; q.alert_ids.len()].join(",")
            ));
            args.extend(
                q.alert_ids
                    .iter()
                    .map(|a| Box::new(a.clone()) as Box<dyn ToSql>),
            );
        }
        if !q.risks.is_empty() {
            wh.push(format!(
                "risk_rank IN ({})",
                vec!["?"; q.risks.len()].join(",")
            ));
            args.extend(
                q.risks
                    .iter()
                    .map(|r| Box::new(risk_rank(*r)) as Box<dyn ToSql>),
            );
        }
        let (since, until) = filter.time_range();
        if let Some(s) = since {
            wh.push("event_time_ms >= ?".into());
            args.push(Box::new(s));
        }
        if let Some(u) = until {
            wh.push("event_time_ms < ?".into());
            args.push(Box::new(u));
        }
        if let Some(c) = &cursor {
            let op = if q.desc { "<" } else { ">" };
            wh.push(format!("({col} {op} ? OR ({col} = ? AND id {op} ?))"));
            let key: Box<dyn ToSql> = match &c.key {
                SortValue::Int(i) => Box::new(*i),
                SortValue::Text(t) => Box::new(t.clone()),
            };
            let key2: Box<dyn ToSql> = match &c.key {
                SortValue::Int(i) => Box::new(*i),
                SortValue::Text(t) => Box::new(t.clone()),
            };
            args.push(key);
            args.push(key2);
            args.push(Box::new(c.id.clone()));
        }
        let dir = if q.desc { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM results {} ORDER BY {col} {dir}, id {dir}",
            if wh.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", wh.join(" AND "))
            }
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| backend(p, "query", &e))?;
        let refs: Vec<&dyn ToSql> = args.iter().map(AsRef::as_ref).collect();
        let mut rows = stmt
            .query(refs.as_slice())
            .map_err(|e| backend(p, "query", &e))?;
        let mut out = Vec::new();
        let mut more = false;
        while let Some(row) = rows.next().map_err(|e| backend(p, "query", &e))? {
            let (mut r, notes) = row_to_result(row).map_err(|e| backend(p, "read result", &e))?;
            if !filter.matches(&r.result) {
                continue;
            }
            if q.limit > 0 && out.len() == q.limit {
                more = true;
                break;
            }
            r.notifications =
                serde_json::from_str(&notes).map_err(|e| json_err(p, "notifications", e))?;
            out.push(r);
        }
        let next_cursor = if more {
            out.last().map(|r| {
                Cursor {
                    key: sort_value(r, q.sort),
                    id: r.result.id.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(ResultPage {
            results: out,
            next_cursor,
        })
    }
}

/// Sets one channel's status in a result's `notifications`; false when the result is not stored.
fn set_status(
    conn: &Connection,
    p: &Path,
    result_id: &str,
    channel: &str,
    status: &str,
) -> Result<bool, StorageError> {
    let current: Option<String> = conn
        .query_row(
            "SELECT notifications FROM results WHERE id = ?1",
            [result_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| backend(p, "update notification status", &e))?;
    let Some(current) = current else {
        return Ok(false);
    };
    let mut map: BTreeMap<String, String> =
        serde_json::from_str(&current).map_err(|e| json_err(p, "notifications", e))?;
    map.insert(channel.to_owned(), status.to_owned());
    let text = serde_json::to_string(&map).map_err(|e| json_err(p, "notifications", e))?;
    conn.execute(
        "UPDATE results SET notifications = ?1 WHERE id = ?2",
        params![text, result_id],
    )
    .map_err(|e| backend(p, "update notification status", &e))?;
    Ok(true)
}

const DELIVERY_COLUMNS: &str = "id, result_id, alert_id, channel, kind, config, result, status, attempts, created_ms, next_attempt_ms, last_error";

/// Pending deliveries due at `?1`, earliest first, at most `?2`.
const DUE_DELIVERIES: &str = "WHERE status = 'pending' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, created_ms, id LIMIT ?2";

/// Deliveries matching `sql_where`, read on `conn` (the connection or an open transaction).
fn read_deliveries(
    conn: &Connection,
    p: &Path,
    sql_where: &str,
    args: &[&dyn ToSql],
) -> Result<Vec<Delivery>, StorageError> {
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries {sql_where}"
        ))
        .map_err(|e| backend(p, "read deliveries", &e))?;
    let rows = st
        .query_map(args, row_to_delivery)
        .map_err(|e| backend(p, "read deliveries", &e))?;
    let mut out = Vec::new();
    for row in rows {
        let (mut d, config, result) = row.map_err(|e| backend(p, "read deliveries", &e))?;
        d.config = serde_json::from_str(&config).map_err(|e| json_err(p, "delivery config", e))?;
        d.result = serde_json::from_str(&result).map_err(|e| json_err(p, "delivery result", e))?;
        out.push(d);
    }
    Ok(out)
}

fn row_to_delivery(row: &Row<'_>) -> rusqlite::Result<(Delivery, String, String)> {
    let status: String = row.get(7)?;
    let d = Delivery {
        id: row.get(0)?,
        result_id: row.get(1)?,
        alert_id: row.get(2)?,
        channel: row.get(3)?,
        kind: row.get(4)?,
        config: Value::Null,
        result: placeholder_result(),
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Failed),
        attempts: row.get(8)?,
        created_ms: row.get(9)?,
        next_attempt_ms: row.get(10)?,
        last_error: row.get(11)?,
    };
    Ok((d, row.get(5)?, row.get(6)?))
}

fn placeholder_result() -> AlertResult {
    AlertResult {
        id: String::new(),
        alert_id: String::new(),
        alert_name: String::new(),
        risk: Risk::Low,
        event_id: String::new(),
        event_time: None,
        event_name: None,
        event_source: None,
        region: None,
        user: String::new(),
        source_ip: None,
        error_code: None,
        account_id: None,
        count: None,
        window_start: None,
        save: true,
        raw: Arc::from(RawValue::NULL.to_owned()),
    }
}

impl SqliteStorage {
    fn deliveries_where(
        &self,
        sql_where: &str,
        args: &[&dyn ToSql],
    ) -> Result<Vec<Delivery>, StorageError> {
        read_deliveries(&self.conn, &self.path, sql_where, args)
    }
}

fn opt_str(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

impl Storage for SqliteStorage {
    fn commit(&mut self, batch: &Batch<'_>) -> Result<CommitOutcome, StorageError> {
        let p = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| backend(&p, "begin batch", &e))?;
        let mut new = 0;
        // Results stored before this batch: their notifications were queued then (and may have
        // been pruned since), so they are not queued again.
        let mut inserted: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut stored_before: std::collections::HashSet<&str> = std::collections::HashSet::new();
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO results (id, alert_id, alert_name, risk, risk_rank, event_id, event_time, event_time_ms, event_name, \
                     event_source, region, user, user_key, source_ip, error_code, account_id, count, count_key, window_start, recorded_at, raw) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
                )
                .map_err(|e| backend(&p, "store results", &e))?;
            for r in batch.results.iter().filter(|r| r.save) {
                let t = r
                    .event_time
                    .as_deref()
                    .and_then(trailalerts::parse_event_time)
                    .unwrap_or(i64::MIN);
                let added = ins
                    .execute(params![
                        r.id,
                        r.alert_id,
                        r.alert_name,
                        r.risk.as_str(),
                        risk_rank(r.risk),
                        r.event_id,
                        r.event_time,
                        t,
                        opt_str(&r.event_name),
                        opt_str(&r.event_source),
                        opt_str(&r.region),
                        r.user,
                        r.user.to_ascii_lowercase(),
                        opt_str(&r.source_ip),
                        opt_str(&r.error_code),
                        opt_str(&r.account_id),
                        r.count,
                        r.count.map_or(-1, i64::from),
                        r.window_start,
                        batch.recorded_at,
                        r.raw.get(),
                    ])
                    .map_err(|e| backend(&p, "store results", &e))?;
                new += added;
                if added > 0 {
                    inserted.insert(r.id.as_str());
                } else if !inserted.contains(r.id.as_str()) {
                    stored_before.insert(r.id.as_str());
                }
            }
            let mut sil = tx
                .prepare_cached(
                    "INSERT INTO silenced (ignore_alert_id, ignore_id, alert_id, event_id, event_time, recorded_at) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM ignores WHERE alert_id = ?1 AND id = ?2)",
                )
                .map_err(|e| backend(&p, "store silenced", &e))?;
            let mut bump = tx
                .prepare_cached(
                    "UPDATE ignores SET silenced = silenced + 1 WHERE alert_id = ?1 AND id = ?2",
                )
                .map_err(|e| backend(&p, "store silenced", &e))?;
            for s in batch.silenced {
                let owner = if s.global { "" } else { s.alert_id.as_str() };
                sil.execute(params![
                    owner,
                    s.ignore_id,
                    s.alert_id,
                    s.event_id,
                    s.event_time,
                    batch.recorded_at
                ])
                .map_err(|e| backend(&p, "store silenced", &e))?;
                bump.execute(params![owner, s.ignore_id])
                    .map_err(|e| backend(&p, "store silenced", &e))?;
            }
            if !batch.silenced.is_empty() {
                // Keep the 20 most recent per ignore; the count lives in `ignores.silenced`.
                tx.execute(
                    "DELETE FROM silenced WHERE seq IN (SELECT seq FROM (SELECT seq, row_number() OVER \
                     (PARTITION BY ignore_alert_id, ignore_id ORDER BY seq DESC) AS n FROM silenced) WHERE n > 20)",
                    [],
                )
                .map_err(|e| backend(&p, "trim silenced", &e))?;
            }
            let mut proc = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO processed (event_id, event_time_ms) VALUES (?1, ?2)",
                )
                .map_err(|e| backend(&p, "store processed ids", &e))?;
            for (id, t) in batch.processed {
                proc.execute(params![id, t])
                    .map_err(|e| backend(&p, "store processed ids", &e))?;
            }
            let mut del = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO deliveries (id, result_id, alert_id, channel, kind, config, result, status, attempts, \
                     created_ms, next_attempt_ms, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(|e| backend(&p, "store deliveries", &e))?;
            for d in batch
                .deliveries
                .iter()
                .filter(|d| !stored_before.contains(d.result_id.as_str()))
            {
                let config = serde_json::to_string(&d.config)
                    .map_err(|e| json_err(&p, "delivery config", e))?;
                let result = serde_json::to_string(&d.result)
                    .map_err(|e| json_err(&p, "delivery result", e))?;
                let added = del
                    .execute(params![
                        d.id,
                        d.result_id,
                        d.alert_id,
                        d.channel,
                        d.kind,
                        config,
                        result,
                        d.status.as_str(),
                        d.attempts,
                        d.created_ms,
                        d.next_attempt_ms,
                        d.last_error
                    ])
                    .map_err(|e| backend(&p, "store deliveries", &e))?;
                if added > 0 {
                    set_status(&tx, &p, &d.result_id, &d.channel, &d.status_text())?;
                }
            }
            if let Some(entries) = batch.thresholds {
                tx.execute("DELETE FROM thresholds", [])
                    .map_err(|e| backend(&p, "store thresholds", &e))?;
                let mut th = tx
                    .prepare_cached("INSERT INTO thresholds (alert_id, grp, times, window_ms) VALUES (?1, ?2, ?3, ?4)")
                    .map_err(|e| backend(&p, "store thresholds", &e))?;
                for e in entries {
                    let times = serde_json::to_string(&e.times).unwrap_or_else(|_| "[]".into());
                    th.execute(params![e.alert_id, e.group, times, e.window_ms])
                        .map_err(|e| backend(&p, "store thresholds", &e))?;
                }
            }
        }
        tx.commit().map_err(|e| backend(&p, "commit batch", &e))?;
        Ok(CommitOutcome { new_results: new })
    }

    fn get_result(&self, id: &str) -> Result<StoredResult, StorageError> {
        let p = &self.path;
        let row = self
            .conn
            .query_row(
                &format!("SELECT {RESULT_COLUMNS} FROM results WHERE id = ?1"),
                [id],
                row_to_result,
            )
            .optional()
            .map_err(|e| backend(p, "read result", &e))?;
        let Some((mut r, notes)) = row else {
            return Err(StorageError::NotFound {
                kind: "result",
                id: id.to_owned(),
            });
        };
        r.notifications =
            serde_json::from_str(&notes).map_err(|e| json_err(p, "notifications", e))?;
        Ok(r)
    }

    fn query_results(&self, q: &ResultQuery) -> Result<ResultPage, StorageError> {
        self.query_inner(q)
    }

    fn count_results(&self) -> Result<u64, StorageError> {
        self.conn
            .query_row("SELECT count(*) FROM results", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| backend(&self.path, "count", &e))
    }

    fn set_notification_status(
        &mut self,
        result_id: &str,
        channel: &str,
        status: &str,
    ) -> Result<(), StorageError> {
        let p = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| backend(&p, "update notification status", &e))?;
        if !set_status(&tx, &p, result_id, channel, status)? {
            return Err(StorageError::NotFound {
                kind: "result",
                id: result_id.to_owned(),
            });
        }
        tx.commit()
            .map_err(|e| backend(&p, "update notification status", &e))
    }

    fn put_ignore(&mut self, ignore: &IgnoreDef) -> Result<(), StorageError> {
        let def = serde_json::to_string(ignore).map_err(|e| json_err(&self.path, "ignore", e))?;
        self.conn
            .execute(
                "INSERT INTO ignores (alert_id, id, def) VALUES (?1, ?2, ?3) ON CONFLICT (alert_id, id) DO UPDATE SET def = excluded.def",
                params![ignore.alert_id.as_deref().unwrap_or(""), ignore.id, def],
            )
            .map(|_| ())
            .map_err(|e| backend(&self.path, "store ignore", &e))
    }

    fn list_ignores(&self, alert: Option<Option<&str>>) -> Result<Vec<StoredIgnore>, StorageError> {
        let p = &self.path;
        let (sql, arg) = match alert {
            None => (
                "SELECT alert_id, id, def, silenced FROM ignores ORDER BY alert_id, id",
                None,
            ),
            Some(a) => (
                "SELECT alert_id, id, def, silenced FROM ignores WHERE alert_id = ?1 ORDER BY alert_id, id",
                Some(a.unwrap_or("")),
            ),
        };
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| backend(p, "list ignores", &e))?;
        let map = |r: &Row<'_>| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        };
        let rows: Vec<(String, String, String, i64)> = match arg {
            None => stmt.query_map([], map),
            Some(a) => stmt.query_map([a], map),
        }
        .and_then(Iterator::collect)
        .map_err(|e| backend(p, "list ignores", &e))?;
        let mut recent_stmt = self
            .conn
            .prepare_cached("SELECT alert_id, event_id FROM silenced WHERE ignore_alert_id = ?1 AND ignore_id = ?2 ORDER BY seq DESC LIMIT 20")
            .map_err(|e| backend(p, "list ignores", &e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (alert_id, id, def, silenced) in rows {
            let ignore: IgnoreDef =
                serde_json::from_str(&def).map_err(|e| json_err(p, "ignore", e))?;
            let recent = recent_stmt
                .query_map(params![alert_id, id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .and_then(Iterator::collect)
                .map_err(|e| backend(p, "list ignores", &e))?;
            out.push(StoredIgnore {
                ignore,
                silenced: silenced as u64,
                recent,
            });
        }
        Ok(out)
    }

    fn remove_ignore(&mut self, alert_id: Option<&str>, id: &str) -> Result<(), StorageError> {
        let p = self.path.clone();
        let owner = alert_id.unwrap_or("");
        let tx = self
            .conn
            .transaction()
            .map_err(|e| backend(&p, "remove ignore", &e))?;
        let n = tx
            .execute(
                "DELETE FROM ignores WHERE alert_id = ?1 AND id = ?2",
                params![owner, id],
            )
            .map_err(|e| backend(&p, "remove ignore", &e))?;
        tx.execute(
            "DELETE FROM silenced WHERE ignore_alert_id = ?1 AND ignore_id = ?2",
            params![owner, id],
        )
        .map_err(|e| backend(&p, "remove ignore", &e))?;
        tx.commit().map_err(|e| backend(&p, "remove ignore", &e))?;
        if n == 0 {
            return Err(StorageError::NotFound {
                kind: "ignore",
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    fn put_alert(&mut self, def: &AlertDef) -> Result<(), StorageError> {
        let text = serde_json::to_string(def).map_err(|e| json_err(&self.path, "alert", e))?;
        self.conn
            .execute("INSERT INTO alerts (id, def) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET def = excluded.def", params![def.id, text])
            .map(|_| ())
            .map_err(|e| backend(&self.path, "store alert", &e))
    }

    fn list_alerts(&self) -> Result<Vec<AlertDef>, StorageError> {
        let p = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, def FROM alerts ORDER BY id")
            .map_err(|e| backend(p, "list alerts", &e))?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| backend(p, "list alerts", &e))?;
        rows.into_iter()
            .map(|(id, def)| {
                let v: serde_json::Value = serde_json::from_str(&def)
                    .map_err(|e| json_err(p, &format!("alert `{id}`"), e))?;
                AlertDef::from_value(v, &[]).map_err(|e| {
                    StorageError::Backend(format!(
                        "{}: stored alert `{id}` no longer loads: {e}",
                        p.display()
                    ))
                })
            })
            .collect()
    }

    fn remove_alert(&mut self, id: &str) -> Result<(), StorageError> {
        let n = self
            .conn
            .execute("DELETE FROM alerts WHERE id = ?1", [id])
            .map_err(|e| backend(&self.path, "remove alert", &e))?;
        if n == 0 {
            return Err(StorageError::NotFound {
                kind: "alert",
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    fn set_alert_enabled(&mut self, id: &str, enabled: bool) -> Result<(), StorageError> {
        self.conn
            .execute(
                "INSERT INTO alert_states (id, enabled) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled",
                params![id, enabled],
            )
            .map(|_| ())
            .map_err(|e| backend(&self.path, "store alert state", &e))
    }

    fn alert_states(&self) -> Result<BTreeMap<String, bool>, StorageError> {
        let p = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, enabled FROM alert_states")
            .map_err(|e| backend(p, "read alert states", &e))?;
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| backend(p, "read alert states", &e))
    }

    fn load_threshold_state(&self) -> Result<Vec<ThresholdEntry>, StorageError> {
        let p = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT alert_id, grp, times, window_ms FROM thresholds ORDER BY alert_id, grp",
            )
            .map_err(|e| backend(p, "read thresholds", &e))?;
        let rows: Vec<(String, String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(Iterator::collect)
            .map_err(|e| backend(p, "read thresholds", &e))?;
        rows.into_iter()
            .map(|(alert_id, group, times, window_ms)| {
                let times =
                    serde_json::from_str(&times).map_err(|e| json_err(p, "threshold times", e))?;
                Ok(ThresholdEntry {
                    alert_id,
                    group,
                    times,
                    window_ms,
                })
            })
            .collect()
    }

    fn is_processed(&self, id: &str) -> Result<bool, StorageError> {
        self.conn
            .query_row("SELECT 1 FROM processed WHERE event_id = ?1", [id], |_| {
                Ok(())
            })
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| backend(&self.path, "read processed ids", &e))
    }

    fn due_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, StorageError> {
        let limit = if limit == 0 {
            i64::MAX
        } else {
            i64::try_from(limit).unwrap_or(i64::MAX)
        };
        self.deliveries_where(DUE_DELIVERIES, &[&now_ms, &limit])
    }

    fn claim_deliveries(
        &mut self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, StorageError> {
        let p = self.path.clone();
        // IMMEDIATE: take the write lock before reading, so two processes cannot claim the same rows.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend(&p, "claim deliveries", &e))?;
        let limit = if limit == 0 {
            i64::MAX
        } else {
            i64::try_from(limit).unwrap_or(i64::MAX)
        };
        let due = read_deliveries(&tx, &p, DUE_DELIVERIES, &[&now_ms, &limit])?;
        for d in &due {
            tx.execute(
                "UPDATE deliveries SET next_attempt_ms = ?2 WHERE id = ?1",
                params![d.id, now_ms.saturating_add(lease_ms)],
            )
            .map_err(|e| backend(&p, "claim deliveries", &e))?;
        }
        tx.commit()
            .map_err(|e| backend(&p, "claim deliveries", &e))?;
        Ok(due)
    }

    fn next_delivery_ms(&self) -> Result<Option<i64>, StorageError> {
        self.conn
            .query_row(
                "SELECT min(next_attempt_ms) FROM deliveries WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| backend(&self.path, "read deliveries", &e))
    }

    fn update_delivery(&mut self, u: &DeliveryUpdate) -> Result<(), StorageError> {
        let p = self.path.clone();
        let mut d = self
            .deliveries_where("WHERE id = ?1", &[&u.id])?
            .pop()
            .ok_or_else(|| StorageError::NotFound {
                kind: "delivery",
                id: u.id.clone(),
            })?;
        apply_delivery_update(&mut d, u);
        let result =
            serde_json::to_string(&d.result).map_err(|e| json_err(&p, "delivery result", e))?;
        let tx = self
            .conn
            .transaction()
            .map_err(|e| backend(&p, "update delivery", &e))?;
        tx.execute(
            "UPDATE deliveries SET status = ?2, attempts = ?3, next_attempt_ms = ?4, last_error = ?5, result = ?6 WHERE id = ?1",
            params![u.id, u.status.as_str(), u.attempts, u.next_attempt_ms, u.last_error, result],
        )
        .map_err(|e| backend(&p, "update delivery", &e))?;
        set_status(&tx, &p, &d.result_id, &d.channel, &d.status_text())?;
        tx.commit().map_err(|e| backend(&p, "update delivery", &e))
    }

    fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StorageError> {
        let limit = if limit == 0 {
            i64::MAX
        } else {
            i64::try_from(limit).unwrap_or(i64::MAX)
        };
        match status {
            Some(s) => self.deliveries_where(
                "WHERE status = ?1 ORDER BY seq LIMIT ?2",
                &[&s.as_str(), &limit],
            ),
            None => self.deliveries_where("ORDER BY seq LIMIT ?1", &[&limit]),
        }
    }

    fn retry_deliveries(&mut self, id: Option<&str>, now_ms: i64) -> Result<usize, StorageError> {
        let p = self.path.clone();
        let failed = match id {
            Some(id) => {
                let d = self
                    .deliveries_where("WHERE id = ?1", &[&id])?
                    .pop()
                    .ok_or_else(|| StorageError::NotFound {
                        kind: "delivery",
                        id: id.to_owned(),
                    })?;
                if d.status != DeliveryStatus::Failed {
                    return Err(StorageError::Invalid(format!(
                        "delivery {id} is {}, not failed",
                        d.status.as_str()
                    )));
                }
                vec![d]
            }
            None => self.deliveries_where("WHERE status = 'failed' ORDER BY seq", &[])?,
        };
        let tx = self
            .conn
            .transaction()
            .map_err(|e| backend(&p, "retry deliveries", &e))?;
        for d in &failed {
            tx.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, created_ms = ?2, next_attempt_ms = ?2, last_error = NULL WHERE id = ?1",
                params![d.id, now_ms],
            )
            .map_err(|e| backend(&p, "retry deliveries", &e))?;
            set_status(&tx, &p, &d.result_id, &d.channel, "pending")?;
        }
        tx.commit()
            .map_err(|e| backend(&p, "retry deliveries", &e))?;
        Ok(failed.len())
    }

    fn prune_deliveries(&mut self, before_ms: i64) -> Result<usize, StorageError> {
        self.conn
            .execute(
                "DELETE FROM deliveries WHERE status = 'delivered' AND created_ms < ?1",
                [before_ms],
            )
            .map_err(|e| backend(&self.path, "prune deliveries", &e))
    }

    fn prune_processed(&mut self, before_ms: i64) -> Result<usize, StorageError> {
        self.conn
            .execute(
                "DELETE FROM processed WHERE event_time_ms < ?1",
                [before_ms],
            )
            .map_err(|e| backend(&self.path, "prune processed ids", &e))
    }
}
