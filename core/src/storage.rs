//! The `Storage` trait, its in-memory implementation, and the trait-level operations every
//! storage shares: result queries (filters, sorting, keyset pagination), exports and "ignore
//! from a result".
//!
//! Storage keeps what must survive a restart: results (one per alert and event), ignores and
//! what they silenced, alert definitions and their on/off state, threshold state and the ids of
//! processed events. The SQLite adapter in `trailalerts-adapters` implements the same trait and
//! passes the same conformance kit ([`crate::testkit`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::alert::{AlertDef, IgnoreDef, PathValue, Risk};
use crate::engine::Silenced;
use crate::error::StorageError;
use crate::event::{Event, lookup_all};
use crate::glob::Glob;
use crate::outbox::{Delivery, DeliveryStatus, DeliveryUpdate};
use crate::result::AlertResult;
use crate::threshold::ThresholdEntry;

/// A result as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResult {
    /// The result.
    #[serde(flatten)]
    pub result: AlertResult,
    /// When it was recorded (RFC 3339, given by the caller: the core reads no clock).
    pub recorded_at: String,
    /// Notification status per channel (`pending`, `delivered`, `failed: …`), when any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notifications: BTreeMap<String, String>,
}

/// Columns results can be sorted by (and chosen for export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    /// `eventTime` (default).
    #[default]
    EventTime,
    /// When recorded.
    RecordedAt,
    /// Risk (low < medium < high < critical).
    Risk,
    /// Alert id.
    AlertId,
    /// Alert name.
    AlertName,
    /// Event name.
    EventName,
    /// Service (`eventSource`).
    EventSource,
    /// Region.
    Region,
    /// User (case-insensitive).
    User,
    /// Source IP.
    SourceIp,
    /// Error code.
    ErrorCode,
    /// Account.
    AccountId,
    /// Event id.
    EventId,
    /// Threshold count (results without one sort first).
    Count,
}

impl SortField {
    /// Every field, in export column order.
    pub const ALL: [SortField; 14] = [
        Self::EventTime,
        Self::RecordedAt,
        Self::Risk,
        Self::AlertId,
        Self::AlertName,
        Self::EventName,
        Self::EventSource,
        Self::Region,
        Self::User,
        Self::SourceIp,
        Self::ErrorCode,
        Self::AccountId,
        Self::EventId,
        Self::Count,
    ];

    /// The column name (as in JSON output and `--sort`).
    pub fn name(self) -> &'static str {
        match self {
            Self::EventTime => "event_time",
            Self::RecordedAt => "recorded_at",
            Self::Risk => "risk",
            Self::AlertId => "alert_id",
            Self::AlertName => "alert_name",
            Self::EventName => "event_name",
            Self::EventSource => "event_source",
            Self::Region => "region",
            Self::User => "user",
            Self::SourceIp => "source_ip",
            Self::ErrorCode => "error_code",
            Self::AccountId => "account_id",
            Self::EventId => "event_id",
            Self::Count => "count",
        }
    }

    /// Parses a column name; `service` is accepted for `event_source`.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "service" {
            return Some(Self::EventSource);
        }
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// A sort key value: comparable the same way in every storage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    /// Numbers: times (ms; missing = `i64::MIN`), risk rank, count (missing = -1).
    Int(i64),
    /// Text (missing = empty).
    Text(String),
}

/// The rank of a risk for sorting: low 0 … critical 3.
pub fn risk_rank(r: Risk) -> i64 {
    match r {
        Risk::Low => 0,
        Risk::Medium => 1,
        Risk::High => 2,
        Risk::Critical => 3,
    }
}

/// The sort key of a stored result for `field`.
pub fn sort_value(r: &StoredResult, field: SortField) -> SortValue {
    let res = &r.result;
    let t = |v: &Option<String>| SortValue::Text(v.clone().unwrap_or_default());
    match field {
        SortField::EventTime => SortValue::Int(
            res.event_time
                .as_deref()
                .and_then(crate::time::parse_event_time)
                .unwrap_or(i64::MIN),
        ),
        SortField::RecordedAt => SortValue::Text(r.recorded_at.clone()),
        SortField::Risk => SortValue::Int(risk_rank(res.risk)),
        SortField::AlertId => SortValue::Text(res.alert_id.clone()),
        SortField::AlertName => SortValue::Text(res.alert_name.clone()),
        SortField::EventName => t(&res.event_name),
        SortField::EventSource => t(&res.event_source),
        SortField::Region => t(&res.region),
        SortField::User => SortValue::Text(res.user.to_ascii_lowercase()),
        SortField::SourceIp => t(&res.source_ip),
        SortField::ErrorCode => t(&res.error_code),
        SortField::AccountId => t(&res.account_id),
        SortField::EventId => SortValue::Text(res.event_id.clone()),
        SortField::Count => SortValue::Int(res.count.map_or(-1, i64::from)),
    }
}

/// A position in a sorted result list: the last row's key and result id. Opaque to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Sort key of the last row returned.
    pub key: SortValue,
    /// Result id of the last row returned (ties break on it).
    pub id: String,
}

impl Cursor {
    /// Encodes as an opaque string (hex of JSON).
    pub fn encode(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_default()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Decodes a string from [`Cursor::encode`].
    pub fn decode(s: &str) -> Result<Self, StorageError> {
        let bad = || StorageError::Invalid(format!("bad cursor `{s}`"));
        if s.len() % 2 != 0 || s.len() > 8192 {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }

    /// Whether a row with `(key, id)` comes after this cursor in the given direction.
    pub fn is_before(&self, key: &SortValue, id: &str, desc: bool) -> bool {
        let ord = (key, id).cmp(&(&self.key, self.id.as_str()));
        if desc {
            ord == Ordering::Less
        } else {
            ord == Ordering::Greater
        }
    }
}

/// A result search. Every set field must match; globs ignore case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultQuery {
    /// Alert ids (exact).
    pub alert_ids: Vec<String>,
    /// Risks.
    pub risks: Vec<Risk>,
    /// Earliest event time (inclusive), RFC 3339.
    pub since: Option<String>,
    /// Latest event time (exclusive), RFC 3339.
    pub until: Option<String>,
    /// Region glob.
    pub region: Option<String>,
    /// Service glob (`iam` means `iam.amazonaws.com`).
    pub service: Option<String>,
    /// Event name glob.
    pub event: Option<String>,
    /// User glob (matched against the displayed user).
    pub user: Option<String>,
    /// Source IP or CIDR.
    pub source_ip: Option<String>,
    /// Error code glob.
    pub error_code: Option<String>,
    /// Free text searched (case-insensitively) in the raw event.
    pub text: Option<String>,
    /// Sort column.
    pub sort: SortField,
    /// Descending order.
    pub desc: bool,
    /// Page size (0 = no limit).
    pub limit: usize,
    /// Cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of results.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResultPage {
    /// The results.
    pub results: Vec<StoredResult>,
    /// Cursor for the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// Everything one unit of work changes, written atomically by [`Storage::commit`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch<'a> {
    /// New results (those with `save: false` are not kept).
    pub results: &'a [AlertResult],
    /// Results ignores silenced.
    pub silenced: &'a [Silenced],
    /// Event ids processed, with their event time (ms) for pruning.
    pub processed: &'a [(String, i64)],
    /// The engine's threshold state after the batch (replaces the saved state), if it changed.
    pub thresholds: Option<&'a [ThresholdEntry]>,
    /// When the batch is recorded (RFC 3339).
    pub recorded_at: &'a str,
    /// Notifications to deliver for this batch's results (the outbox); one whose id is
    /// already stored is not added again, so a re-read event never notifies twice.
    pub deliveries: &'a [Delivery],
}

/// What a commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Results stored that were not stored before.
    pub new_results: usize,
}

/// An ignore as stored, with what it silenced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredIgnore {
    /// The ignore (`alert_id` is `None` for global ignores).
    #[serde(flatten)]
    pub ignore: IgnoreDef,
    /// How many results it silenced.
    pub silenced: u64,
    /// The most recent silenced events (alert id, event id), newest first, at most 20.
    #[serde(default)]
    pub recent: Vec<(String, String)>,
}

/// Persistence for everything the engine must not lose. Implementations make [`Storage::commit`]
/// atomic: after a crash either all of a batch is stored or none of it.
pub trait Storage {
    /// Atomically stores a batch: results (keeping the first of any result id), silenced
    /// results, processed ids and threshold state.
    fn commit(&mut self, batch: &Batch<'_>) -> Result<CommitOutcome, StorageError>;

    /// Saves results; the same result id twice keeps the first. Returns how many were new.
    fn save_results(
        &mut self,
        results: &[AlertResult],
        recorded_at: &str,
    ) -> Result<usize, StorageError> {
        self.commit(&Batch {
            results,
            recorded_at,
            ..Batch::default()
        })
        .map(|o| o.new_results)
    }
    /// One result by id.
    fn get_result(&self, id: &str) -> Result<StoredResult, StorageError>;
    /// Searches results (see [`ResultQuery`]); pages are stable under concurrent inserts.
    fn query_results(&self, q: &ResultQuery) -> Result<ResultPage, StorageError>;
    /// How many results are stored.
    fn count_results(&self) -> Result<u64, StorageError>;
    /// Sets the notification status of a result for one channel.
    fn set_notification_status(
        &mut self,
        result_id: &str,
        channel: &str,
        status: &str,
    ) -> Result<(), StorageError>;

    /// Adds or replaces an ignore (keyed by `alert_id` and `id`).
    fn put_ignore(&mut self, ignore: &IgnoreDef) -> Result<(), StorageError>;
    /// Ignores with what they silenced: all (`None`), or those of one alert (`Some(Some(id))`)
    /// or the global ones (`Some(None)`).
    fn list_ignores(&self, alert: Option<Option<&str>>) -> Result<Vec<StoredIgnore>, StorageError>;
    /// Removes an ignore; results it silenced stay silenced.
    fn remove_ignore(&mut self, alert_id: Option<&str>, id: &str) -> Result<(), StorageError>;

    /// Adds or replaces a custom alert definition (or a built-in's edited copy with its id).
    fn put_alert(&mut self, def: &AlertDef) -> Result<(), StorageError>;
    /// Stored alert definitions, by id.
    fn list_alerts(&self) -> Result<Vec<AlertDef>, StorageError>;
    /// Removes a stored alert definition.
    fn remove_alert(&mut self, id: &str) -> Result<(), StorageError>;
    /// Turns any alert (built-in or custom) on or off.
    fn set_alert_enabled(&mut self, id: &str, enabled: bool) -> Result<(), StorageError>;
    /// The saved on/off switches, by alert id.
    fn alert_states(&self) -> Result<BTreeMap<String, bool>, StorageError>;

    /// The saved threshold state.
    fn load_threshold_state(&self) -> Result<Vec<ThresholdEntry>, StorageError>;
    /// Replaces the saved threshold state.
    fn save_threshold_state(&mut self, entries: &[ThresholdEntry]) -> Result<(), StorageError> {
        self.commit(&Batch {
            thresholds: Some(entries),
            ..Batch::default()
        })
        .map(|_| ())
    }

    /// Records event ids as processed, with their event time (ms) for pruning.
    fn mark_processed(&mut self, ids: &[(String, i64)]) -> Result<(), StorageError> {
        self.commit(&Batch {
            processed: ids,
            ..Batch::default()
        })
        .map(|_| ())
    }
    /// Whether an event id was processed.
    fn is_processed(&self, id: &str) -> Result<bool, StorageError>;
    /// Forgets processed ids with an event time before `before_ms`; returns how many.
    fn prune_processed(&mut self, before_ms: i64) -> Result<usize, StorageError>;

    /// Pending deliveries whose next attempt is due at `now_ms`, earliest first, at most `limit`.
    fn due_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, StorageError>;
    /// Atomically takes up to `limit` due deliveries for sending: they are returned and their
    /// next attempt is pushed to `now_ms + lease_ms`, so other dispatchers sharing the storage
    /// do not send them too. If the sender dies, they fall due again when the lease ends.
    fn claim_deliveries(
        &mut self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, StorageError>;
    /// The earliest next attempt of any pending delivery.
    fn next_delivery_ms(&self) -> Result<Option<i64>, StorageError>;
    /// Records the outcome of an attempt, and mirrors it into the result's notification status.
    /// A delivered entry keeps its summary (so the same notification is never sent twice) but
    /// drops the raw event: nothing is kept beyond what delivery needs.
    fn update_delivery(&mut self, update: &DeliveryUpdate) -> Result<(), StorageError>;
    /// Deliveries in creation order, optionally of one status, at most `limit` (0: all).
    fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StorageError>;
    /// Forgets delivered deliveries created before `before_ms`; returns how many. A stored
    /// result never queues its notifications twice, so pruning is safe for saved results; for
    /// `save_results: false` alerts an event re-read after the prune would notify again.
    fn prune_deliveries(&mut self, before_ms: i64) -> Result<usize, StorageError>;
    /// Makes failed deliveries (one by id, or all) pending again with a fresh attempt budget;
    /// returns how many.
    fn retry_deliveries(&mut self, id: Option<&str>, now_ms: i64) -> Result<usize, StorageError>;
}

/// Applies an update to a delivery (shared by the storages).
pub fn apply_delivery_update(d: &mut Delivery, u: &DeliveryUpdate) {
    d.status = u.status;
    d.attempts = u.attempts;
    d.next_attempt_ms = u.next_attempt_ms;
    d.last_error.clone_from(&u.last_error);
    if u.status == DeliveryStatus::Delivered {
        d.result.raw = Arc::clone(&NULL_RAW);
    }
}

static NULL_RAW: std::sync::LazyLock<Arc<RawValue>> =
    std::sync::LazyLock::new(|| Arc::from(RawValue::NULL.to_owned()));

/// Keeps everything in memory (for tests, one-shot scans and embedding).
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    results: Vec<StoredResult>,
    by_id: HashMap<String, usize>,
    ignores: BTreeMap<(String, String), StoredIgnore>,
    alerts: BTreeMap<String, AlertDef>,
    states: BTreeMap<String, bool>,
    thresholds: Vec<ThresholdEntry>,
    processed: HashMap<String, i64>,
    deliveries: BTreeMap<String, Delivery>,
    delivery_order: Vec<String>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn glob(field: &str, p: Option<&str>) -> Result<Option<Glob>, StorageError> {
    p.map(Glob::new)
        .transpose()
        .map_err(|e| StorageError::Invalid(format!("{field}: {e}")))
}

/// Compiled form of a [`ResultQuery`]'s filters, shared by storages that filter in Rust.
#[derive(Debug)]
pub struct QueryFilter {
    alert_ids: Vec<String>,
    risks: Vec<Risk>,
    since: Option<i64>,
    until: Option<i64>,
    region: Option<Glob>,
    service: Option<Glob>,
    event: Option<Glob>,
    user: Option<Glob>,
    net: Option<ipnet::IpNet>,
    error_code: Option<Glob>,
    text: Option<String>,
}

impl QueryFilter {
    /// Validates and compiles the filters of `q`.
    pub fn new(q: &ResultQuery) -> Result<Self, StorageError> {
        let time = |field: &str, t: &Option<String>| -> Result<Option<i64>, StorageError> {
            t.as_deref()
                .map(|s| {
                    crate::time::parse_event_time(s).ok_or_else(|| {
                        StorageError::Invalid(format!("{field}: `{s}` is not an RFC 3339 time"))
                    })
                })
                .transpose()
        };
        let net = q
            .source_ip
            .as_deref()
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        StorageError::Invalid(format!(
                            "source_ip: `{s}` is not an IP address or CIDR"
                        ))
                    })
            })
            .transpose()?;
        let service = q.service.as_deref().map(|s| {
            if s.contains('.') {
                s.to_owned()
            } else {
                format!("{s}.amazonaws.com")
            }
        });
        if let Some(c) = &q.cursor {
            Cursor::decode(c)?;
        }
        Ok(Self {
            alert_ids: q.alert_ids.clone(),
            risks: q.risks.clone(),
            since: time("since", &q.since)?,
            until: time("until", &q.until)?,
            region: glob("region", q.region.as_deref())?,
            service: glob("service", service.as_deref())?,
            event: glob("event", q.event.as_deref())?,
            user: glob("user", q.user.as_deref())?,
            net,
            error_code: glob("error_code", q.error_code.as_deref())?,
            text: q.text.as_ref().map(|t| t.to_lowercase()),
        })
    }

    /// The time bounds (ms), for storages that filter them in their index.
    pub fn time_range(&self) -> (Option<i64>, Option<i64>) {
        (self.since, self.until)
    }

    /// Whether a result passes.
    pub fn matches(&self, r: &AlertResult) -> bool {
        let g = |g: &Option<Glob>, v: Option<&str>| {
            g.as_ref().is_none_or(|g| v.is_some_and(|v| g.is_match(v)))
        };
        let t = r
            .event_time
            .as_deref()
            .and_then(crate::time::parse_event_time);
        (self.alert_ids.is_empty() || self.alert_ids.contains(&r.alert_id))
            && (self.risks.is_empty() || self.risks.contains(&r.risk))
            && self.since.is_none_or(|s| t.is_some_and(|t| t >= s))
            && self.until.is_none_or(|u| t.is_some_and(|t| t < u))
            && g(&self.region, r.region.as_deref())
            && g(&self.service, r.event_source.as_deref())
            && g(&self.event, r.event_name.as_deref())
            && g(&self.user, Some(&r.user))
            && g(&self.error_code, r.error_code.as_deref())
            && self.net.is_none_or(|n| {
                r.source_ip
                    .as_deref()
                    .and_then(|s| s.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|a| n.contains(&a))
            })
            && self
                .text
                .as_ref()
                .is_none_or(|t| r.raw.get().to_lowercase().contains(t.as_str()))
    }
}

/// Pages through `rows` (any storage's candidate rows, in any order) with the query's sort,
/// cursor and limit. Storages that cannot sort natively use this; it defines the semantics.
pub fn paginate(mut rows: Vec<StoredResult>, q: &ResultQuery) -> Result<ResultPage, StorageError> {
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut keyed: Vec<(SortValue, StoredResult)> = rows
        .drain(..)
        .map(|r| (sort_value(&r, q.sort), r))
        .collect();
    keyed.sort_by(|a, b| (&a.0, &a.1.result.id).cmp(&(&b.0, &b.1.result.id)));
    if q.desc {
        keyed.reverse();
    }
    let mut out = Vec::new();
    let mut more = false;
    for (k, r) in keyed {
        if cursor
            .as_ref()
            .is_some_and(|c| !c.is_before(&k, &r.result.id, q.desc))
        {
            continue;
        }
        if q.limit > 0 && out.len() == q.limit {
            more = true;
            break;
        }
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

/// Adds one silenced result to a stored ignore's record.
pub fn note_silenced(ig: &mut StoredIgnore, s: &Silenced) {
    ig.silenced += 1;
    ig.recent
        .insert(0, (s.alert_id.clone(), s.event_id.clone()));
    ig.recent.truncate(20);
}

impl Storage for MemoryStorage {
    fn commit(&mut self, batch: &Batch<'_>) -> Result<CommitOutcome, StorageError> {
        let mut new = 0;
        let mut stored_before = std::collections::HashSet::new();
        let mut inserted = std::collections::HashSet::new();
        for r in batch.results.iter().filter(|r| r.save) {
            if self.by_id.contains_key(&r.id) {
                if !inserted.contains(r.id.as_str()) {
                    stored_before.insert(r.id.as_str());
                }
                continue;
            }
            inserted.insert(r.id.as_str());
            self.by_id.insert(r.id.clone(), self.results.len());
            self.results.push(StoredResult {
                result: r.clone(),
                recorded_at: batch.recorded_at.to_owned(),
                notifications: BTreeMap::new(),
            });
            new += 1;
        }
        for s in batch.silenced {
            let key = (
                if s.global {
                    String::new()
                } else {
                    s.alert_id.clone()
                },
                s.ignore_id.clone(),
            );
            if let Some(ig) = self.ignores.get_mut(&key) {
                note_silenced(ig, s);
            }
        }
        for (id, t) in batch.processed {
            self.processed.insert(id.clone(), *t);
        }
        if let Some(t) = batch.thresholds {
            self.thresholds = t.to_vec();
        }
        for d in batch.deliveries {
            if self.deliveries.contains_key(&d.id) || stored_before.contains(d.result_id.as_str()) {
                continue;
            }
            if let Some(r) = self
                .by_id
                .get(&d.result_id)
                .and_then(|&i| self.results.get_mut(i))
            {
                r.notifications.insert(d.channel.clone(), d.status_text());
            }
            self.delivery_order.push(d.id.clone());
            self.deliveries.insert(d.id.clone(), d.clone());
        }
        Ok(CommitOutcome { new_results: new })
    }

    fn get_result(&self, id: &str) -> Result<StoredResult, StorageError> {
        self.by_id
            .get(id)
            .and_then(|&i| self.results.get(i))
            .cloned()
            .ok_or_else(|| StorageError::NotFound {
                kind: "result",
                id: id.to_owned(),
            })
    }

    fn query_results(&self, q: &ResultQuery) -> Result<ResultPage, StorageError> {
        let f = QueryFilter::new(q)?;
        paginate(
            self.results
                .iter()
                .filter(|r| f.matches(&r.result))
                .cloned()
                .collect(),
            q,
        )
    }

    fn count_results(&self) -> Result<u64, StorageError> {
        Ok(self.results.len() as u64)
    }

    fn set_notification_status(
        &mut self,
        result_id: &str,
        channel: &str,
        status: &str,
    ) -> Result<(), StorageError> {
        let i = *self
            .by_id
            .get(result_id)
            .ok_or_else(|| StorageError::NotFound {
                kind: "result",
                id: result_id.to_owned(),
            })?;
        if let Some(r) = self.results.get_mut(i) {
            r.notifications
                .insert(channel.to_owned(), status.to_owned());
        }
        Ok(())
    }

    fn put_ignore(&mut self, ignore: &IgnoreDef) -> Result<(), StorageError> {
        let key = (
            ignore.alert_id.clone().unwrap_or_default(),
            ignore.id.clone(),
        );
        let entry = self.ignores.entry(key).or_insert_with(|| StoredIgnore {
            ignore: ignore.clone(),
            silenced: 0,
            recent: Vec::new(),
        });
        entry.ignore = ignore.clone();
        Ok(())
    }

    fn list_ignores(&self, alert: Option<Option<&str>>) -> Result<Vec<StoredIgnore>, StorageError> {
        Ok(self
            .ignores
            .values()
            .filter(|i| alert.is_none_or(|a| i.ignore.alert_id.as_deref() == a))
            .cloned()
            .collect())
    }

    fn remove_ignore(&mut self, alert_id: Option<&str>, id: &str) -> Result<(), StorageError> {
        self.ignores
            .remove(&(alert_id.unwrap_or_default().to_owned(), id.to_owned()))
            .map(|_| ())
            .ok_or_else(|| StorageError::NotFound {
                kind: "ignore",
                id: id.to_owned(),
            })
    }

    fn put_alert(&mut self, def: &AlertDef) -> Result<(), StorageError> {
        self.alerts.insert(def.id.clone(), def.clone());
        Ok(())
    }

    fn list_alerts(&self) -> Result<Vec<AlertDef>, StorageError> {
        Ok(self.alerts.values().cloned().collect())
    }

    fn remove_alert(&mut self, id: &str) -> Result<(), StorageError> {
        self.alerts
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| StorageError::NotFound {
                kind: "alert",
                id: id.to_owned(),
            })
    }

    fn set_alert_enabled(&mut self, id: &str, enabled: bool) -> Result<(), StorageError> {
        self.states.insert(id.to_owned(), enabled);
        Ok(())
    }

    fn alert_states(&self) -> Result<BTreeMap<String, bool>, StorageError> {
        Ok(self.states.clone())
    }

    fn load_threshold_state(&self) -> Result<Vec<ThresholdEntry>, StorageError> {
        Ok(self.thresholds.clone())
    }

    fn is_processed(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self.processed.contains_key(id))
    }

    fn prune_processed(&mut self, before_ms: i64) -> Result<usize, StorageError> {
        let n = self.processed.len();
        self.processed.retain(|_, t| *t >= before_ms);
        Ok(n - self.processed.len())
    }

    fn due_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, StorageError> {
        let mut due: Vec<&Delivery> = self
            .deliveries
            .values()
            .filter(|d| d.status == DeliveryStatus::Pending && d.next_attempt_ms <= now_ms)
            .collect();
        due.sort_by(|a, b| {
            (a.next_attempt_ms, a.created_ms, &a.id).cmp(&(b.next_attempt_ms, b.created_ms, &b.id))
        });
        Ok(due
            .into_iter()
            .take(if limit == 0 { usize::MAX } else { limit })
            .cloned()
            .collect())
    }

    fn prune_deliveries(&mut self, before_ms: i64) -> Result<usize, StorageError> {
        let n = self.deliveries.len();
        self.deliveries
            .retain(|_, d| !(d.status == DeliveryStatus::Delivered && d.created_ms < before_ms));
        let kept = &self.deliveries;
        self.delivery_order.retain(|id| kept.contains_key(id));
        Ok(n - self.deliveries.len())
    }

    fn claim_deliveries(
        &mut self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, StorageError> {
        let due = self.due_deliveries(now_ms, limit)?;
        for d in &due {
            if let Some(x) = self.deliveries.get_mut(&d.id) {
                x.next_attempt_ms = now_ms.saturating_add(lease_ms);
            }
        }
        Ok(due)
    }

    fn next_delivery_ms(&self) -> Result<Option<i64>, StorageError> {
        Ok(self
            .deliveries
            .values()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .map(|d| d.next_attempt_ms)
            .min())
    }

    fn update_delivery(&mut self, u: &DeliveryUpdate) -> Result<(), StorageError> {
        let d = self
            .deliveries
            .get_mut(&u.id)
            .ok_or_else(|| StorageError::NotFound {
                kind: "delivery",
                id: u.id.clone(),
            })?;
        apply_delivery_update(d, u);
        let (rid, ch, text) = (d.result_id.clone(), d.channel.clone(), d.status_text());
        if let Some(r) = self.by_id.get(&rid).and_then(|&i| self.results.get_mut(i)) {
            r.notifications.insert(ch, text);
        }
        Ok(())
    }

    fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StorageError> {
        Ok(self
            .delivery_order
            .iter()
            .filter_map(|id| self.deliveries.get(id))
            .filter(|d| status.is_none_or(|s| d.status == s))
            .take(if limit == 0 { usize::MAX } else { limit })
            .cloned()
            .collect())
    }

    fn retry_deliveries(&mut self, id: Option<&str>, now_ms: i64) -> Result<usize, StorageError> {
        if let Some(id) = id {
            let d = self
                .deliveries
                .get(id)
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
        }
        let ids: Vec<String> = self
            .deliveries
            .values()
            .filter(|d| d.status == DeliveryStatus::Failed && id.is_none_or(|x| x == d.id))
            .map(|d| d.id.clone())
            .collect();
        for i in &ids {
            if let Some(d) = self.deliveries.get_mut(i) {
                d.status = DeliveryStatus::Pending;
                d.attempts = 0;
                d.created_ms = now_ms;
                d.next_attempt_ms = now_ms;
                d.last_error = None;
                let (rid, ch, text) = (d.result_id.clone(), d.channel.clone(), d.status_text());
                if let Some(r) = self.by_id.get(&rid).and_then(|&i| self.results.get_mut(i)) {
                    r.notifications.insert(ch, text);
                }
            }
        }
        Ok(ids.len())
    }
}

/// A field to key an ignore on when creating it from a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreKey {
    /// `awsRegion`.
    Region,
    /// `eventSource`.
    Service,
    /// `eventName`.
    Event,
    /// The caller: ARN when present (assumed-role ARNs include the session), else user name,
    /// `root`, or the invoking service.
    User,
    /// A request parameter at a dotted path.
    RequestParameter(String),
    /// A response element at a dotted path.
    ResponseElement(String),
}

impl IgnoreKey {
    /// Parses `region`, `service`, `event`, `user`, `request_parameter:PATH`, `response_element:PATH`.
    pub fn parse(s: &str) -> Result<Self, StorageError> {
        Ok(match s.trim() {
            "region" => Self::Region,
            "service" => Self::Service,
            "event" => Self::Event,
            "user" => Self::User,
            other => match other.split_once(':') {
                Some(("request_parameter", p)) if !p.is_empty() => {
                    Self::RequestParameter(p.to_owned())
                }
                Some(("response_element", p)) if !p.is_empty() => {
                    Self::ResponseElement(p.to_owned())
                }
                _ => {
                    return Err(StorageError::Invalid(format!(
                        "`{other}` is not one of region, service, event, user, request_parameter:PATH, response_element:PATH"
                    )));
                }
            },
        })
    }
}

fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Builds an ignore for the result's alert, pre-filled from its event: each key takes the
/// event's value (escaped, so it matches exactly). Callers may then widen any field with
/// wildcards before saving it.
///
/// ```
/// use trailalerts::{Engine, Event, IgnoreKey, StoredResult, ignore_from_result};
/// let mut e = Engine::builder().build().unwrap();
/// let raw = r#"{"eventID":"1","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","awsRegion":"eu-west-1",
///   "userIdentity":{"type":"IAMUser","userName":"ci","arn":"arn:aws:iam::1:user/ci"}}"#;
/// let result = e.evaluate(&Event::parse(raw).unwrap()).remove(0);
/// let stored = StoredResult { result, recorded_at: "2024-01-01T00:00:00Z".into(), notifications: Default::default() };
/// let ig = ignore_from_result(&stored, &[IgnoreKey::User, IgnoreKey::Event], "ci-stop").unwrap();
/// assert_eq!(ig.user.as_deref(), Some("arn:aws:iam::1:user/ci"));
/// assert_eq!(ig.event.as_deref(), Some("StopLogging"));
/// assert_eq!(ig.alert_id.as_deref(), Some("cis-4.5-cloudtrail-changes"));
/// ```
pub fn ignore_from_result(
    stored: &StoredResult,
    keys: &[IgnoreKey],
    ignore_id: &str,
) -> Result<IgnoreDef, StorageError> {
    if keys.is_empty() {
        return Err(StorageError::Invalid(
            "choose at least one field to ignore by".into(),
        ));
    }
    let ev = Event::parse(stored.result.raw.get())
        .map_err(|e| StorageError::Invalid(format!("stored event unreadable: {e}")))?;
    let missing = |what: &str| {
        StorageError::Invalid(format!(
            "the event of result `{}` has no {what}",
            stored.result.id
        ))
    };
    let mut ig = IgnoreDef {
        id: ignore_id.to_owned(),
        alert_id: Some(stored.result.alert_id.clone()),
        ..IgnoreDef::default()
    };
    let path_value =
        |root: Option<&Value>, path: &str, what: &str| -> Result<PathValue, StorageError> {
            let segs: Vec<&str> = path.split('.').collect();
            let mut found = Vec::new();
            if let Some(root) = root {
                lookup_all(root, &segs, &mut found);
            }
            let v = found.into_iter().find_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            });
            let v = v.ok_or_else(|| missing(&format!("{what} `{path}`")))?;
            Ok(PathValue {
                path: path.to_owned(),
                value: escape_glob(&v),
            })
        };
    for k in keys {
        match k {
            IgnoreKey::Region => {
                ig.region = Some(escape_glob(ev.region().ok_or_else(|| missing("region"))?))
            }
            IgnoreKey::Service => {
                ig.service = Some(escape_glob(
                    ev.event_source().ok_or_else(|| missing("event source"))?,
                ))
            }
            IgnoreKey::Event => {
                ig.event = Some(escape_glob(
                    ev.event_name().ok_or_else(|| missing("event name"))?,
                ))
            }
            IgnoreKey::User => {
                let id = ev.identity();
                let user = if id.and_then(|i| i.kind.as_deref()) == Some("Root") {
                    Some("root")
                } else {
                    id.and_then(|i| {
                        i.arn
                            .as_deref()
                            .or(i.user_name.as_deref())
                            .or(i.invoked_by.as_deref())
                    })
                };
                ig.user = Some(escape_glob(user.ok_or_else(|| missing("user"))?));
            }
            IgnoreKey::RequestParameter(p) => {
                ig.request_parameter =
                    Some(path_value(ev.request_parameters(), p, "request parameter")?)
            }
            IgnoreKey::ResponseElement(p) => {
                ig.response_element =
                    Some(path_value(ev.response_elements(), p, "response element")?)
            }
        }
    }
    Ok(ig)
}

/// Renders results for export. `columns` empty means every column; JSON Lines always include
/// `id`, and include `raw` when asked for (column `raw`).
pub mod export {
    use super::{SortField, StoredResult};

    /// A column of an export: a [`SortField`], `id`, `raw` or `notifications`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Column {
        /// The result id.
        Id,
        /// A result field.
        Field(SortField),
        /// The raw event.
        Raw,
        /// Notification status per channel.
        Notifications,
    }

    impl Column {
        /// The column name.
        pub fn name(self) -> &'static str {
            match self {
                Self::Id => "id",
                Self::Field(f) => f.name(),
                Self::Raw => "raw",
                Self::Notifications => "notifications",
            }
        }
        /// Parses a column name.
        pub fn parse(s: &str) -> Option<Self> {
            match s.trim() {
                "id" => Some(Self::Id),
                "raw" => Some(Self::Raw),
                "notifications" => Some(Self::Notifications),
                other => SortField::parse(other).map(Self::Field),
            }
        }
        /// Every column but `raw`, in order.
        pub fn defaults() -> Vec<Column> {
            let mut v = vec![Self::Id];
            v.extend(SortField::ALL.into_iter().map(Self::Field));
            v.push(Self::Notifications);
            v
        }
    }

    fn value(r: &StoredResult, c: Column) -> serde_json::Value {
        use serde_json::Value as V;
        let res = &r.result;
        let s = |v: &Option<String>| v.clone().map_or(V::Null, V::String);
        match c {
            Column::Id => V::String(res.id.clone()),
            Column::Raw => serde_json::from_str(res.raw.get()).unwrap_or(V::Null),
            Column::Notifications => serde_json::to_value(&r.notifications).unwrap_or(V::Null),
            Column::Field(f) => match f {
                SortField::EventTime => s(&res.event_time),
                SortField::RecordedAt => V::String(r.recorded_at.clone()),
                SortField::Risk => V::String(res.risk.as_str().to_owned()),
                SortField::AlertId => V::String(res.alert_id.clone()),
                SortField::AlertName => V::String(res.alert_name.clone()),
                SortField::EventName => s(&res.event_name),
                SortField::EventSource => s(&res.event_source),
                SortField::Region => s(&res.region),
                SortField::User => V::String(res.user.clone()),
                SortField::SourceIp => s(&res.source_ip),
                SortField::ErrorCode => s(&res.error_code),
                SortField::AccountId => s(&res.account_id),
                SortField::EventId => V::String(res.event_id.clone()),
                SortField::Count => res.count.map_or(V::Null, V::from),
            },
        }
    }

    /// One JSON object on one line.
    pub fn json_line(r: &StoredResult, columns: &[Column]) -> String {
        let mut m = serde_json::Map::new();
        for &c in columns {
            m.insert(c.name().to_owned(), value(r, c));
        }
        serde_json::Value::Object(m).to_string()
    }

    /// The CSV header line (with CRLF).
    pub fn csv_header(columns: &[Column]) -> String {
        let names: Vec<String> = columns.iter().map(|c| csv_cell(c.name())).collect();
        format!("{}\r\n", names.join(","))
    }

    /// One CSV row (with CRLF).
    pub fn csv_row(r: &StoredResult, columns: &[Column]) -> String {
        let mut line = String::new();
        for (i, &c) in columns.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            match value(r, c) {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => push_csv_cell(&mut line, &s),
                other => push_csv_cell(&mut line, &other.to_string()),
            }
        }
        line.push_str("\r\n");
        line
    }

    /// Quotes a CSV cell per RFC 4180. Cells a spreadsheet would run as a formula (`=`, `+`,
    /// `-`, `@`, tab, CR first — OWASP's list) get a leading `'`: event fields are
    /// attacker-chosen (IAM names and session names may start with `+`, `-`, `=` or `@`).
    ///
    /// ```
    /// use trailalerts::export::csv_cell;
    /// assert_eq!(csv_cell("a,b"), "\"a,b\"");
    /// assert_eq!(csv_cell("=cmd()"), "'=cmd()");
    /// assert_eq!(csv_cell("-1+1"), "'-1+1");
    /// assert_eq!(csv_cell("@ x "), "\"'@ x \"");
    /// assert_eq!(csv_cell(" é"), "\" é\"");
    /// assert_eq!(csv_cell("ü\r\n"), "\"ü\r\n\"");
    /// assert_eq!(csv_cell("bob"), "bob");
    /// ```
    pub fn csv_cell(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        push_csv_cell(&mut out, s);
        out
    }

    /// [`csv_cell`], appended to `out` (no allocation per cell when writing many rows).
    ///
    /// ```
    /// let mut line = String::new();
    /// trailalerts::export::push_csv_cell(&mut line, "say \"hi\"");
    /// assert_eq!(line, "\"say \"\"hi\"\"\"");
    /// ```
    pub fn push_csv_cell(out: &mut String, s: &str) {
        // Bytes, not chars: every character looked for is ASCII, and a char-set search costs
        // several times as much per cell (an export writes ~15 cells per result).
        let b = s.as_bytes();
        let guard = matches!(b.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
        // Quoting looks at the guarded text: the guard never adds a character that needs it.
        let quote = b.iter().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r'))
            || (!guard && b.first() == Some(&b' '))
            || b.last() == Some(&b' ');
        if quote {
            out.push('"');
        }
        if guard {
            out.push('\'');
        }
        if quote {
            for (i, part) in s.split('"').enumerate() {
                if i > 0 {
                    out.push_str("\"\"");
                }
                out.push_str(part);
            }
            out.push('"');
        } else {
            out.push_str(s);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_storage_passes_the_conformance_kit() {
        if let Err(failures) = crate::testkit::check_storage(&mut super::MemoryStorage::new) {
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        }
    }
}
