//! The `Storage` trait and its in-memory implementation.
//!
//! Storage keeps what must survive a restart: results (one per alert and event), ignores,
//! alert definitions and their on/off state, threshold state and the ids of processed events.
//! The SQLite adapter in `trailalerts-adapters` implements the same trait.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::alert::{AlertDef, IgnoreDef, Risk};
use crate::error::StorageError;
use crate::glob::Glob;
use crate::result::AlertResult;
use crate::threshold::ThresholdEntry;

/// A result as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResult {
    /// The result.
    #[serde(flatten)]
    pub result: AlertResult,
    /// When it was recorded (RFC 3339, given by the caller).
    pub recorded_at: String,
}

/// Columns results can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
    /// Event name.
    EventName,
    /// Region.
    Region,
    /// User.
    User,
    /// Source IP.
    SourceIp,
}

/// A result search. Every set field must match; globs ignore case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
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
    /// Service glob.
    pub service: Option<String>,
    /// Event name glob.
    pub event: Option<String>,
    /// User glob.
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
    /// Opaque cursor from a previous page.
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

/// Persistence for everything the engine must not lose.
pub trait Storage {
    /// Saves results; the same result id twice keeps the first. Returns how many were new.
    fn save_results(&mut self, results: &[AlertResult], recorded_at: &str) -> Result<usize, StorageError>;
    /// One result by id.
    fn get_result(&self, id: &str) -> Result<StoredResult, StorageError>;
    /// Searches results.
    fn query_results(&self, q: &ResultQuery) -> Result<ResultPage, StorageError>;

    /// Adds or replaces an ignore (keyed by `alert_id` and `id`).
    fn put_ignore(&mut self, ignore: &IgnoreDef) -> Result<(), StorageError>;
    /// Ignores, all or those of one alert (`Some(None)` for global ones).
    fn list_ignores(&self, alert: Option<Option<&str>>) -> Result<Vec<IgnoreDef>, StorageError>;
    /// Removes an ignore.
    fn remove_ignore(&mut self, alert_id: Option<&str>, id: &str) -> Result<(), StorageError>;

    /// Adds or replaces a custom alert definition (or a built-in's saved state).
    fn put_alert(&mut self, def: &AlertDef) -> Result<(), StorageError>;
    /// Stored alert definitions.
    fn list_alerts(&self) -> Result<Vec<AlertDef>, StorageError>;
    /// Removes a stored alert definition.
    fn remove_alert(&mut self, id: &str) -> Result<(), StorageError>;

    /// Replaces the saved threshold state.
    fn save_threshold_state(&mut self, entries: &[ThresholdEntry]) -> Result<(), StorageError>;
    /// The saved threshold state.
    fn load_threshold_state(&self) -> Result<Vec<ThresholdEntry>, StorageError>;

    /// Records event ids as processed, with their event time (ms) for pruning.
    fn mark_processed(&mut self, ids: &[(String, i64)]) -> Result<(), StorageError>;
    /// Whether an event id was processed.
    fn is_processed(&self, id: &str) -> Result<bool, StorageError>;
    /// Forgets processed ids with an event time before `before_ms`; returns how many.
    fn prune_processed(&mut self, before_ms: i64) -> Result<usize, StorageError>;
}

/// Keeps everything in memory (for tests, one-shot scans and embedding).
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    results: Vec<StoredResult>,
    by_id: HashMap<String, usize>,
    ignores: BTreeMap<(String, String), IgnoreDef>,
    alerts: BTreeMap<String, AlertDef>,
    thresholds: Vec<ThresholdEntry>,
    processed: HashMap<String, i64>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn glob(field: &str, p: &Option<String>) -> Result<Option<Glob>, StorageError> {
    p.as_deref().map(Glob::new).transpose().map_err(|e| StorageError::Invalid(format!("{field}: {e}")))
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
                .map(|s| crate::time::parse_event_time(s).ok_or_else(|| StorageError::Invalid(format!("{field}: `{s}` is not an RFC 3339 time"))))
                .transpose()
        };
        let net = q
            .source_ip
            .as_deref()
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| StorageError::Invalid(format!("source_ip: `{s}` is not an IP address or CIDR")))
            })
            .transpose()?;
        Ok(Self {
            alert_ids: q.alert_ids.clone(),
            risks: q.risks.clone(),
            since: time("since", &q.since)?,
            until: time("until", &q.until)?,
            region: glob("region", &q.region)?,
            service: glob("service", &q.service)?,
            event: glob("event", &q.event)?,
            user: glob("user", &q.user)?,
            net,
            error_code: glob("error_code", &q.error_code)?,
            text: q.text.as_ref().map(|t| t.to_lowercase()),
        })
    }

    /// Whether a result passes.
    pub fn matches(&self, r: &AlertResult) -> bool {
        let g = |g: &Option<Glob>, v: Option<&str>| g.as_ref().is_none_or(|g| v.is_some_and(|v| g.is_match(v)));
        let t = r.event_time.as_deref().and_then(crate::time::parse_event_time);
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
                r.source_ip.as_deref().and_then(|s| s.parse::<std::net::IpAddr>().ok()).is_some_and(|a| n.contains(&a))
            })
            && self.text.as_ref().is_none_or(|t| r.raw.get().to_lowercase().contains(t.as_str()))
    }
}

/// The sort key of a result for `field`, as text that orders correctly.
pub fn sort_key(r: &StoredResult, field: SortField) -> String {
    let res = &r.result;
    match field {
        SortField::EventTime => res
            .event_time
            .as_deref()
            .and_then(crate::time::parse_event_time)
            .map_or_else(String::new, |t| format!("{:020}", t.saturating_add(i64::MAX / 2))),
        SortField::RecordedAt => r.recorded_at.clone(),
        SortField::Risk => (res.risk as u8).to_string(),
        SortField::AlertId => res.alert_id.clone(),
        SortField::EventName => res.event_name.clone().unwrap_or_default(),
        SortField::Region => res.region.clone().unwrap_or_default(),
        SortField::User => res.user.to_lowercase(),
        SortField::SourceIp => res.source_ip.clone().unwrap_or_default(),
    }
}

impl Storage for MemoryStorage {
    fn save_results(&mut self, results: &[AlertResult], recorded_at: &str) -> Result<usize, StorageError> {
        let mut new = 0;
        for r in results.iter().filter(|r| r.save) {
            if self.by_id.contains_key(&r.id) {
                continue;
            }
            self.by_id.insert(r.id.clone(), self.results.len());
            self.results.push(StoredResult { result: r.clone(), recorded_at: recorded_at.to_owned() });
            new += 1;
        }
        Ok(new)
    }

    fn get_result(&self, id: &str) -> Result<StoredResult, StorageError> {
        self.by_id
            .get(id)
            .and_then(|&i| self.results.get(i))
            .cloned()
            .ok_or_else(|| StorageError::NotFound { kind: "result", id: id.to_owned() })
    }

    fn query_results(&self, q: &ResultQuery) -> Result<ResultPage, StorageError> {
        let f = QueryFilter::new(q)?;
        let mut hits: Vec<(String, &StoredResult)> =
            self.results.iter().filter(|r| f.matches(&r.result)).map(|r| (sort_key(r, q.sort), r)).collect();
        // Ties break on the result id so pages are stable.
        hits.sort_by(|a, b| (&a.0, &a.1.result.id).cmp(&(&b.0, &b.1.result.id)));
        if q.desc {
            hits.reverse();
        }
        let start = match &q.cursor {
            None => 0,
            Some(c) => c.parse::<usize>().map_err(|_| StorageError::Invalid(format!("bad cursor `{c}`")))?,
        };
        let end = if q.limit == 0 { hits.len() } else { (start + q.limit).min(hits.len()) };
        let results = hits.get(start.min(hits.len())..end).unwrap_or_default().iter().map(|(_, r)| (*r).clone()).collect();
        Ok(ResultPage { results, next_cursor: (end < hits.len()).then(|| end.to_string()) })
    }

    fn put_ignore(&mut self, ignore: &IgnoreDef) -> Result<(), StorageError> {
        let key = (ignore.alert_id.clone().unwrap_or_default(), ignore.id.clone());
        self.ignores.insert(key, ignore.clone());
        Ok(())
    }

    fn list_ignores(&self, alert: Option<Option<&str>>) -> Result<Vec<IgnoreDef>, StorageError> {
        Ok(self.ignores.values().filter(|i| alert.is_none_or(|a| i.alert_id.as_deref() == a)).cloned().collect())
    }

    fn remove_ignore(&mut self, alert_id: Option<&str>, id: &str) -> Result<(), StorageError> {
        self.ignores
            .remove(&(alert_id.unwrap_or_default().to_owned(), id.to_owned()))
            .map(|_| ())
            .ok_or_else(|| StorageError::NotFound { kind: "ignore", id: id.to_owned() })
    }

    fn put_alert(&mut self, def: &AlertDef) -> Result<(), StorageError> {
        self.alerts.insert(def.id.clone(), def.clone());
        Ok(())
    }

    fn list_alerts(&self) -> Result<Vec<AlertDef>, StorageError> {
        Ok(self.alerts.values().cloned().collect())
    }

    fn remove_alert(&mut self, id: &str) -> Result<(), StorageError> {
        self.alerts.remove(id).map(|_| ()).ok_or_else(|| StorageError::NotFound { kind: "alert", id: id.to_owned() })
    }

    fn save_threshold_state(&mut self, entries: &[ThresholdEntry]) -> Result<(), StorageError> {
        self.thresholds = entries.to_vec();
        Ok(())
    }

    fn load_threshold_state(&self) -> Result<Vec<ThresholdEntry>, StorageError> {
        Ok(self.thresholds.clone())
    }

    fn mark_processed(&mut self, ids: &[(String, i64)]) -> Result<(), StorageError> {
        for (id, t) in ids {
            self.processed.insert(id.clone(), *t);
        }
        Ok(())
    }

    fn is_processed(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self.processed.contains_key(id))
    }

    fn prune_processed(&mut self, before_ms: i64) -> Result<usize, StorageError> {
        let n = self.processed.len();
        self.processed.retain(|_, t| *t >= before_ms);
        Ok(n - self.processed.len())
    }
}
