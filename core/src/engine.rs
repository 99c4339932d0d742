//! The engine: compiled alerts, an index over them, ignores and threshold state.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::IpNet;
use serde_json::value::RawValue;

use crate::alert::{AlertDef, Checks, CompiledAlert, Facts, GroupKey, Ignore, IgnoreDef};
use crate::error::AlertError;
use crate::event::{Event, FieldRef, Outcome};
use crate::result::{AlertResult, stable_id};
use crate::threshold::{DEFAULT_MAX_GROUPS, ThresholdEntry, ThresholdTracker};
use crate::time::format_epoch_ms;

/// AWS's published address ranges (`ip-ranges.json`), for `exclude_aws`.
#[derive(Debug, Clone, Default)]
pub struct AwsRanges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn merge<T: Ord + Copy>(mut v: Vec<(T, T)>) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn contains<T: Ord + Copy>(v: &[(T, T)], x: T) -> bool {
    let i = v.partition_point(|r| r.0 <= x);
    i > 0 && v.get(i - 1).is_some_and(|r| x <= r.1)
}

impl AwsRanges {
    /// Reads AWS's `ip-ranges.json` text (`prefixes[].ip_prefix`, `ipv6_prefixes[].ipv6_prefix`).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("ip-ranges.json is not valid JSON: {e}"))?;
        let mut nets = Vec::new();
        for (list, key) in [("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")] {
            for (i, p) in v
                .get(list)
                .and_then(|l| l.as_array())
                .into_iter()
                .flatten()
                .enumerate()
            {
                let s = p
                    .get(key)
                    .and_then(|s| s.as_str())
                    .ok_or_else(|| format!("ip-ranges.json: {list}[{i}] has no `{key}`"))?;
                nets.push(
                    s.parse::<IpNet>()
                        .map_err(|_| format!("ip-ranges.json: {list}[{i}]: `{s}` is not a CIDR"))?,
                );
            }
        }
        if nets.is_empty() {
            return Err("ip-ranges.json has no prefixes".into());
        }
        Ok(Self::from_nets(&nets))
    }

    /// Builds from a list of networks.
    pub fn from_nets(nets: &[IpNet]) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in nets {
            match n {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        Self {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    /// Whether the event was made by AWS itself: a `*.amazonaws.com` source, `AWS Internal`,
    /// or an address inside the loaded ranges.
    pub fn is_aws(&self, ev: &Event<'_>) -> bool {
        let Some(src) = ev.source_ip() else {
            return false;
        };
        if src == "AWS Internal"
            || crate::glob::ends_with_ignore_ascii_case(src.as_bytes(), b".amazonaws.com")
        {
            return true;
        }
        match ev.source_ip_addr() {
            Some(IpAddr::V4(a)) => contains(&self.v4, u32::from(a)),
            Some(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(v4) => contains(&self.v4, u32::from(v4)),
                None => contains(&self.v6, u128::from(a)),
            },
            None => false,
        }
    }
}

/// Counters of what the engine did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    /// Events evaluated.
    pub events: u64,
    /// Alert/event pairs that passed every filter.
    pub matched: u64,
    /// Of those, how many an ignore silenced.
    pub ignored: u64,
    /// Results produced.
    pub results: u64,
    /// Threshold alerts' events without a usable `eventTime` (not counted toward thresholds).
    pub untimed: u64,
}

/// Builds an [`Engine`].
///
/// ```
/// use trailalerts::EngineBuilder;
/// let engine = EngineBuilder::new()
///     .builtin(false)
///     .alerts_json(r#"{"id":"root","name":"Root used","risk":"critical","users":["root"]}"#).unwrap()
///     .build().unwrap();
/// assert_eq!(engine.alerts().count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    builtin: bool,
    custom: Vec<AlertDef>,
    ignores: Vec<IgnoreDef>,
    aws: AwsRanges,
    max_groups: usize,
    disabled: Vec<String>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EngineBuilder {
    /// A builder with the built-in catalog on.
    pub fn new() -> Self {
        Self {
            builtin: true,
            custom: Vec::new(),
            ignores: Vec::new(),
            aws: AwsRanges::default(),
            max_groups: DEFAULT_MAX_GROUPS,
            disabled: Vec::new(),
        }
    }
    /// Whether to load the built-in catalog (default on).
    pub fn builtin(mut self, on: bool) -> Self {
        self.builtin = on;
        self
    }
    /// Adds a custom alert. One with the id of a built-in replaces it.
    pub fn alert(mut self, def: AlertDef) -> Self {
        self.custom.push(def);
        self
    }
    /// Adds custom alerts.
    pub fn alerts(mut self, defs: impl IntoIterator<Item = AlertDef>) -> Self {
        self.custom.extend(defs);
        self
    }
    /// Adds alerts from JSON (one object or an array); `copy_of` may name built-ins or alerts
    /// added before.
    pub fn alerts_json(mut self, text: &str) -> Result<Self, AlertError> {
        let mut known = crate::builtin::builtin_alerts();
        known.extend(self.custom.iter().cloned());
        let defs = AlertDef::parse_many(text, &known)?;
        self.custom.extend(defs);
        Ok(self)
    }
    /// Adds alerts kept in a storage, except those the builder already has a custom alert for.
    pub fn stored_alerts(mut self, defs: impl IntoIterator<Item = AlertDef>) -> Self {
        for d in defs {
            if !self.custom.iter().any(|c| c.id == d.id) {
                self.custom.push(d);
            }
        }
        self
    }

    /// Builds the engine with what `storage` keeps: its alert definitions (added, replacing
    /// built-ins of the same id), on/off switches and ignores. Ignores of alerts that no longer
    /// exist are skipped.
    pub fn build_with_storage(
        self,
        storage: &dyn crate::storage::Storage,
    ) -> Result<Engine, crate::error::Error> {
        let mut engine = self.stored_alerts(storage.list_alerts()?).build()?;
        for (id, on) in storage.alert_states()? {
            engine.set_enabled(&id, on);
        }
        for ig in storage.list_ignores(None)? {
            let owner = ig.ignore.alert_id.as_deref();
            if owner.is_none_or(|a| engine.alert(a).is_some()) {
                engine.add_ignore(owner, &ig.ignore)?;
            }
        }
        Ok(engine)
    }

    /// Adds a global ignore (applies to every alert).
    pub fn global_ignore(mut self, ig: IgnoreDef) -> Self {
        self.ignores.push(ig);
        self
    }
    /// Turns alerts off by id (e.g. built-ins a team does not want).
    pub fn disable(mut self, alert_id: impl Into<String>) -> Self {
        self.disabled.push(alert_id.into());
        self
    }
    /// Loads AWS's published ranges so that `exclude_aws` also drops calls from AWS addresses.
    pub fn aws_ip_ranges(mut self, ranges: AwsRanges) -> Self {
        self.aws = ranges;
        self
    }
    /// Bound on tracked threshold groups (default 200,000).
    pub fn max_threshold_groups(mut self, n: usize) -> Self {
        self.max_groups = n;
        self
    }

    /// Validates and compiles every alert.
    pub fn build(self) -> Result<Engine, AlertError> {
        let mut defs: Vec<AlertDef> = if self.builtin {
            crate::builtin::builtin_alerts()
        } else {
            Vec::new()
        };
        let builtin_count = defs.len();
        let mut seen_custom = std::collections::HashSet::new();
        for d in self.custom {
            if !seen_custom.insert(d.id.clone()) {
                return Err(AlertError::new(d.id.clone(), "id", "duplicate alert id"));
            }
            match defs.iter().take(builtin_count).position(|b| b.id == d.id) {
                Some(i) => {
                    if let Some(slot) = defs.get_mut(i) {
                        *slot = d;
                    }
                }
                None => defs.push(d),
            }
        }
        for id in &self.disabled {
            if let Some(d) = defs.iter_mut().find(|d| &d.id == id) {
                d.enabled = false;
            }
        }
        let alerts = defs
            .into_iter()
            .map(CompiledAlert::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::HashSet::new();
        let ignores = self
            .ignores
            .iter()
            .map(|ig| {
                if !seen.insert(ig.id.clone()) {
                    return Err(AlertError::new(
                        "<global>",
                        format!("ignores[{}].id", ig.id),
                        "duplicate ignore id",
                    ));
                }
                Ignore::compile(ig, "<global>")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut engine = Engine {
            alerts,
            checks: Vec::new(),
            by_name: IndexMap::default(),
            by_prefix: Vec::new(),
            by_source: IndexMap::default(),
            always: Vec::new(),
            global_ignores: ignores,
            aws: self.aws,
            thresholds: ThresholdTracker::new(self.max_groups),
            stats: EngineStats::default(),
            cands: Candidates::default(),
            record_silenced: false,
            silenced: Vec::new(),
            prefilter: None,
            prefilter_seen: Arc::default(),
        };
        engine.reindex();
        Ok(engine)
    }
}

/// A match before thresholds: which alert, for the event at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index of the alert in [`Engine::alerts`] order.
    pub alert: usize,
}

/// Evaluates CloudTrail events against a set of alerts.
///
/// ```
/// use trailalerts::{Engine, Event};
/// let mut engine = Engine::builder().builtin(true).build().unwrap();
/// let ev = Event::parse(r#"{"eventID":"e1","eventTime":"2024-05-01T10:00:00Z",
///   "eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1",
///   "sourceIPAddress":"198.51.100.7","userIdentity":{"type":"IAMUser","userName":"mallory"}}"#).unwrap();
/// let results = engine.evaluate(&ev);
/// assert!(results.iter().any(|r| r.alert_id == "cis-4.5-cloudtrail-changes" && r.user == "mallory"));
/// ```
#[derive(Debug, Clone)]
pub struct Engine {
    alerts: Vec<CompiledAlert>,
    // `CompiledAlert::checks` of each alert, dense: see `Checks`.
    checks: Vec<Checks>,
    by_name: IndexMap,
    // Event-name prefixes of wildcard globs, grouped by prefix length (few distinct lengths).
    by_prefix: Vec<(usize, IndexMap)>,
    by_source: IndexMap,
    always: Vec<usize>,
    global_ignores: Vec<Ignore>,
    aws: AwsRanges,
    thresholds: ThresholdTracker,
    stats: EngineStats,
    cands: Candidates,
    record_silenced: bool,
    silenced: Vec<Silenced>,
    // Byte-level prefilter (None: off, because some unindexed alert pins no literal).
    prefilter: Option<Prefilter>,
    // Adaptive use of the prefilter: how many events it checked and let through. When most
    // pass anyway, the scan costs more than it saves, so it is switched off. Shared by clones
    // (a parallel scan's workers learn together); results never depend on it.
    prefilter_seen: Arc<PrefilterSeen>,
}

/// FNV-1a for the index maps. Their keys come from alert definitions and events only look
/// them up (never insert), so a keyed hash buys nothing there, and SipHash costs more than the
/// rest of the lookup for names this short.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Alerts by lowercase event name, prefix or source.
type IndexMap = HashMap<String, Vec<usize>, std::hash::BuildHasherDefault<Fnv>>;

/// Literal searches for the alerts the index cannot reach by event name or service, and what
/// the alerts it reaches through each key ask of the region, response and source address.
#[derive(Debug, Clone)]
struct Prefilter {
    // One pass over the text finds the `eventName` and `eventSource` keys, escapes, and the
    // exact literals of unindexed alerts (patterns 0-3 are the fixed ones, see `FIXED`).
    scan: aho_corasick::AhoCorasick,
    // Case-insensitive literals (from globs) of unindexed alerts, searched only when needed.
    ci: Option<aho_corasick::AhoCorasick>,
    // Which fixed patterns are also literals of unindexed alerts (`$.eventName EXISTS`).
    fixed_literal: [bool; FIXED.len()],
    // The keys gates read, searched only for events that reach a gate.
    keys: GateKeys,
    // One gate per key of `by_name`, `by_prefix` and `by_source` that has one.
    names: GateMap,
    prefixes: Vec<(usize, GateMap)>,
    sources: GateMap,
}

const FIXED: [&str; 4] = ["\"eventName\"", "\"eventSource\"", "\\u", "\\/"];

type GateMap = HashMap<String, Gate, std::hash::BuildHasherDefault<Fnv>>;

/// What the alerts under one index key ask of an event beyond the key, as far as the
/// prefilter's one pass sees it (see [`Ask`]). An event passes the gate when one alert's asks
/// hold. A key gets no gate when some alert under it asks nothing the pass can check.
#[derive(Debug, Clone)]
struct Gate(Vec<Ask>);

/// What one alert asks of the fields the prefilter's pass reads.
#[derive(Debug, Clone)]
struct Ask {
    // The regions it is limited to, lowercase (its `regions` list or pattern names them).
    regions: Option<Box<[String]>>,
    // An error code (`"response": "unauthorized"`).
    error: bool,
    // The ranges its `source_ips` include. (Not those it excludes: the address the pass
    // read may be a nested one while the event has none, which no exclusion rules out.)
    include: Box<[IpNet]>,
}

/// Searches for the keys gates read.
#[derive(Debug, Clone)]
struct GateKeys {
    region: memchr::memmem::Finder<'static>,
    error: memchr::memmem::Finder<'static>,
    ip: memchr::memmem::Finder<'static>,
}

impl GateKeys {
    fn new() -> Self {
        let f = |k: &str| memchr::memmem::Finder::new(k.as_bytes()).into_owned();
        Self {
            region: f("\"awsRegion\""),
            error: f("\"errorCode\""),
            ip: f("\"sourceIPAddress\""),
        }
    }
}

/// After a quoted key's text ending at `end`: `None` when it is no key (no `:` follows),
/// else its value when that is a string without escapes, `Some(None)` when not.
fn key_string(raw: &[u8], end: usize) -> Option<Option<&[u8]>> {
    let i = skip_ws(raw, end);
    if raw.get(i) != Some(&b':') {
        return None;
    }
    let start = skip_ws(raw, i + 1);
    if raw.get(start) != Some(&b'"') {
        return Some(None);
    }
    let rest = raw.get(start + 1..).unwrap_or_default();
    Some(match memchr::memchr2(b'"', b'\\', rest) {
        Some(len) if rest.get(len) == Some(&b'"') => rest.get(..len),
        _ => None,
    })
}

/// A key's value in raw event text, as far as a byte search can tell.
#[derive(Clone, Copy)]
enum KeyValue<T> {
    Absent,
    Is(T),
    // Repeated (maybe nested), not a plain string, or escaped: only a parse can tell.
    Unknown,
}

/// The string value of the key `finder` searches for (quoted) in `raw`.
fn key_value<'r>(raw: &'r [u8], finder: &memchr::memmem::Finder<'_>) -> KeyValue<&'r [u8]> {
    let mut found = KeyValue::Absent;
    for at in finder.find_iter(raw) {
        let Some(text) = key_string(raw, at + finder.needle().len()) else {
            continue; // the text appeared as a value, not a key
        };
        if !matches!(found, KeyValue::Absent) {
            return KeyValue::Unknown;
        }
        found = text.map_or(KeyValue::Unknown, KeyValue::Is);
    }
    found
}

/// What the gates read of an event beyond its name and source, each found on first use
/// (most events reach no gate and never pay for it).
struct Seen<'r> {
    raw: &'r [u8],
    keys: &'r GateKeys,
    error: Option<bool>,
    // ASCII text (other text is unknown: it may lowercase to ASCII).
    region: Option<KeyValue<&'r [u8]>>,
    // Text that is no address (`AWS Internal`) counts as absent: no range includes it.
    ip: Option<KeyValue<IpAddr>>,
}

impl<'r> Seen<'r> {
    fn new(raw: &'r [u8], keys: &'r GateKeys) -> Self {
        Self {
            raw,
            keys,
            error: None,
            region: None,
            ip: None,
        }
    }

    /// Whether an `errorCode` key occurs (anywhere: a nested one only lets more through).
    fn error(&mut self) -> bool {
        let (raw, f) = (self.raw, &self.keys.error);
        *self.error.get_or_insert_with(|| {
            f.find_iter(raw)
                .any(|at| key_string(raw, at + f.needle().len()).is_some())
        })
    }

    fn region(&mut self) -> KeyValue<&'r [u8]> {
        let (raw, f) = (self.raw, &self.keys.region);
        *self.region.get_or_insert_with(|| match key_value(raw, f) {
            KeyValue::Is(r) if !r.is_ascii() => KeyValue::Unknown,
            v => v,
        })
    }

    fn ip(&mut self) -> KeyValue<IpAddr> {
        let (raw, f) = (self.raw, &self.keys.ip);
        *self.ip.get_or_insert_with(|| match key_value(raw, f) {
            KeyValue::Absent => KeyValue::Absent,
            KeyValue::Unknown => KeyValue::Unknown,
            KeyValue::Is(t) => std::str::from_utf8(t)
                .ok()
                .and_then(crate::event::parse_ip)
                .map_or(KeyValue::Absent, KeyValue::Is),
        })
    }
}

impl Gate {
    fn new(alerts: &[CompiledAlert], members: &[usize]) -> Option<Self> {
        let mut asks = Vec::with_capacity(members.len());
        for &i in members {
            let a = alerts.get(i)?;
            let ask = Ask {
                regions: a.region_literals().map(Vec::into_boxed_slice),
                error: a.def.response == crate::alert::ResponseFilter::Unauthorized,
                include: a.source_includes().into(),
            };
            if ask.regions.is_none() && !ask.error && ask.include.is_empty() {
                return None;
            }
            asks.push(ask);
        }
        Some(Self(asks))
    }

    fn admits(&self, seen: &mut Seen<'_>) -> bool {
        self.0.iter().any(|a| {
            (!a.error || seen.error())
                && a.regions.as_ref().is_none_or(|list| match seen.region() {
                    KeyValue::Unknown => true,
                    KeyValue::Absent => false,
                    KeyValue::Is(r) => list.iter().any(|l| l.as_bytes().eq_ignore_ascii_case(r)),
                })
                // As `CompiledAlert::filters_match` checks `source_ips.include`.
                && (a.include.is_empty()
                    || match seen.ip() {
                        KeyValue::Unknown => true,
                        KeyValue::Absent => false,
                        KeyValue::Is(ip) => a.include.iter().any(|n| n.contains(&ip)),
                    })
        })
    }
}

fn gates(alerts: &[CompiledAlert], index: &IndexMap) -> GateMap {
    index
        .iter()
        .filter_map(|(k, members)| Some((k.clone(), Gate::new(alerts, members)?)))
        .collect()
}

/// Text that may be skipped unparsed must at least look like one JSON object; anything else is
/// parsed so that it is reported.
fn looks_like_object(t: &[u8]) -> bool {
    t.first() == Some(&b'{') && t.last() == Some(&b'}')
}

fn skip_ws(raw: &[u8], mut i: usize) -> usize {
    while matches!(raw.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// A result an ignore silenced (recorded when [`Engine::record_silenced`] is on), so storage
/// can show what each ignore hid.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Silenced {
    /// The alert whose result was silenced.
    pub alert_id: String,
    /// The ignore that silenced it.
    pub ignore_id: String,
    /// Whether the ignore is global (else it belongs to `alert_id`).
    pub global: bool,
    /// The event.
    pub event_id: String,
    /// The event's time as written.
    pub event_time: Option<String>,
}

impl Engine {
    /// Starts a builder (built-ins on by default).
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    /// The loaded alert definitions, in evaluation order (built-ins first).
    pub fn alerts(&self) -> impl Iterator<Item = &AlertDef> {
        self.alerts.iter().map(|a| &a.def)
    }

    /// One alert definition by id.
    pub fn alert(&self, id: &str) -> Option<&AlertDef> {
        self.alerts.iter().find(|a| a.def.id == id).map(|a| &a.def)
    }

    /// Turns an alert on or off; returns false when no alert has that id.
    pub fn set_enabled(&mut self, id: &str, enabled: bool) -> bool {
        let Some(a) = self.alerts.iter_mut().find(|a| a.def.id == id) else {
            return false;
        };
        a.def.enabled = enabled;
        self.reindex();
        true
    }

    /// Replaces the global ignores.
    pub fn set_global_ignores(&mut self, ignores: &[IgnoreDef]) -> Result<(), AlertError> {
        self.global_ignores = ignores
            .iter()
            .map(|i| Ignore::compile(i, "<global>"))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Adds an ignore to an alert (or a global one when `alert_id` is `None`); one with the same
    /// id is replaced (that is how an ignore is edited).
    pub fn add_ignore(&mut self, alert_id: Option<&str>, ig: &IgnoreDef) -> Result<(), AlertError> {
        match alert_id {
            None => {
                let compiled = Ignore::compile(ig, "<global>")?;
                self.global_ignores.retain(|i| i.def.id != ig.id);
                self.global_ignores.push(compiled);
                Ok(())
            }
            Some(id) => {
                let Some(a) = self.alerts.iter_mut().find(|a| a.def.id == id) else {
                    return Err(AlertError::new(id, "", "no such alert"));
                };
                let compiled = Ignore::compile(ig, id)?;
                a.ignores.retain(|i| i.def.id != ig.id);
                a.def.ignores.retain(|i| i.id != ig.id);
                a.ignores.push(compiled);
                a.def.ignores.push(ig.clone());
                Ok(())
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Threshold groups dropped to keep memory bounded.
    pub fn threshold_evictions(&self) -> u64 {
        self.thresholds.evictions()
    }

    /// Threshold state to persist.
    pub fn threshold_state(&self) -> Vec<ThresholdEntry> {
        self.thresholds.snapshot()
    }

    /// Restores persisted threshold state.
    pub fn restore_threshold_state(&mut self, entries: Vec<ThresholdEntry>) {
        self.thresholds.restore(entries);
    }

    /// Builds the index: each enabled alert goes under the event names (exact or by literal
    /// prefix) it can match, else under the services it can match, else on the "always" list.
    fn reindex(&mut self) {
        self.cands = Candidates::default();
        self.checks = self.alerts.iter().map(CompiledAlert::checks).collect();
        self.by_name.clear();
        self.by_prefix.clear();
        self.by_source.clear();
        self.always.clear();
        let mut prefixes: HashMap<usize, IndexMap> = HashMap::new();
        for (i, a) in self.alerts.iter_mut().enumerate() {
            a.events_by_name = false;
            if !a.def.enabled {
                continue;
            }
            // Every glob of the `events` list needs a non-empty literal start to be indexable.
            let from_list: Option<Vec<(String, bool)>> = if a.events.is_empty() {
                None
            } else {
                a.events
                    .globs()
                    .iter()
                    .map(|g| match g.literal() {
                        Some(l) => Some((l.to_owned(), true)),
                        None if !g.literal_prefix().is_empty() => {
                            Some((g.literal_prefix().to_owned(), false))
                        }
                        None => None,
                    })
                    .collect()
            };
            let from_pattern = a.pattern.as_ref().and_then(|p| p.event_names()).map(|v| {
                v.into_iter()
                    .map(|n| (n.to_lowercase(), true))
                    .collect::<Vec<_>>()
            });
            let (names, listed) = match (from_list, from_pattern) {
                (Some(x), Some(y)) if x.len() <= y.len() => (Some(x), true),
                (Some(_), Some(y)) => (Some(y), false),
                (x, y) => {
                    let listed = x.is_some();
                    (x.or(y), listed)
                }
            };
            a.events_by_name = listed
                && names
                    .as_ref()
                    .is_some_and(|n| n.iter().all(|(k, exact)| *exact && k.is_ascii()));
            if let Some(mut names) = names {
                names.sort();
                names.dedup();
                for (key, exact) in names {
                    if exact {
                        self.by_name.entry(key).or_default().push(i);
                    } else {
                        prefixes
                            .entry(key.len())
                            .or_default()
                            .entry(key)
                            .or_default()
                            .push(i);
                    }
                }
                continue;
            }
            let sources = a
                .services
                .literals()
                .or_else(|| a.pattern.as_ref().and_then(|p| p.event_sources()));
            if let Some(sources) = sources {
                let mut sources: Vec<String> = sources.iter().map(|n| n.to_lowercase()).collect();
                sources.sort();
                sources.dedup();
                for s in sources {
                    self.by_source.entry(s).or_default().push(i);
                }
                continue;
            }
            self.always.push(i);
        }
        self.by_prefix = prefixes.into_iter().collect();
        self.by_prefix.sort_by_key(|p| p.0);
        self.prefilter = self.build_prefilter();
        self.prefilter_seen = Arc::default();
    }

    /// The prefilter, while it pays, for event texts (`evaluate_text`, `evaluate_raw`,
    /// batches of texts; file buffers are read in one pass, see `Worker::next_event`): after
    /// 1,024 events, if more than a third passed it anyway, it is no longer consulted (until
    /// the alert set changes). 1,024 gives the pass rate within a few percent. A third, from
    /// `evaluate_text` on the generated corpus: with 19-24 % passing, prefiltering was 6-9 %
    /// cheaper than parsing every text; with 36 %, 3 % dearer; 43 %, 8 %; 71 %, 21 %.
    fn skip(&mut self, raw: &[u8]) -> bool {
        if !self.prefilter_on() {
            return false;
        }
        let pass = self.may_match(raw);
        self.prefilter_seen.add(1, u64::from(pass));
        !pass
    }

    /// Whether [`Self::skip`] consults the prefilter (it has one, and it pays).
    fn prefilter_on(&self) -> bool {
        self.prefilter.is_some() && self.prefilter_pays()
    }

    fn prefilter_pays(&self) -> bool {
        let checked = self.prefilter_seen.checked.load(Ordering::Relaxed);
        let passed = self.prefilter_seen.passed.load(Ordering::Relaxed);
        checked < PREFILTER_SAMPLE || passed * 3 <= checked
    }

    fn build_prefilter(&self) -> Option<Prefilter> {
        let (mut exact, mut ci) = (Vec::new(), Vec::new());
        for &i in &self.always {
            for (n, insensitive) in self.alerts.get(i)?.needles()? {
                if insensitive {
                    ci.push(n)
                } else {
                    exact.push(n)
                }
            }
        }
        exact.sort();
        exact.dedup();
        // Matches do not overlap, so a literal that could start inside a fixed pattern's
        // match (`Name` in `"eventName"`) might never be reported: no prefilter then.
        let shadowed = |n: &str| {
            FIXED.iter().any(|f| {
                f.contains(n)
                    || (2..=f.len()).any(|k| f.get(f.len() - k..).is_some_and(|t| n.starts_with(t)))
            })
        };
        if exact
            .iter()
            .any(|n| !FIXED.contains(&n.as_str()) && shadowed(n))
        {
            return None;
        }
        let fixed_literal = FIXED.map(|f| exact.iter().any(|n| n == f));
        exact.retain(|n| !FIXED.contains(&n.as_str()));
        ci.sort();
        ci.dedup();
        let patterns: Vec<String> = FIXED.iter().map(|s| (*s).to_owned()).chain(exact).collect();
        let scan = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(&patterns)
            .ok()?;
        let ci = if ci.is_empty() {
            None
        } else {
            Some(
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&ci)
                    .ok()?,
            )
        };
        Some(Prefilter {
            scan,
            ci,
            fixed_literal,
            keys: GateKeys::new(),
            names: gates(&self.alerts, &self.by_name),
            prefixes: self
                .by_prefix
                .iter()
                .map(|(len, m)| (*len, gates(&self.alerts, m)))
                .collect(),
            sources: gates(&self.alerts, &self.by_source),
        })
    }

    /// Whether an alert the index holds under this event name / source may match: the
    /// value, lowercased, is a key and its gate (if any) admits the event (see [`Gate`]).
    fn in_index(&self, pf: &Prefilter, value: &[u8], source: bool, seen: &mut Seen<'_>) -> bool {
        // The index holds Unicode-lowercased names; only two characters lowercase to ASCII
        // (see `alert::folds_to_ascii`): with them, let the parser decide.
        if crate::alert::folds_to_ascii(value) {
            return true;
        }
        let mut buf = [0u8; 128];
        let Some(dst) = buf.get_mut(..value.len()) else {
            return true;
        };
        dst.copy_from_slice(value);
        dst.make_ascii_lowercase();
        let Ok(v) = std::str::from_utf8(dst) else {
            return true;
        };
        let mut admits = |g: Option<&Gate>| g.is_none_or(|g| g.admits(seen));
        if source {
            return self.by_source.contains_key(v) && admits(pf.sources.get(v));
        }
        (self.by_name.contains_key(v) && admits(pf.names.get(v)))
            || self
                .by_prefix
                .iter()
                .zip(&pf.prefixes)
                .any(|((len, m), (_, g))| {
                    v.get(..*len)
                        .is_some_and(|p| m.contains_key(p) && admits(g.get(p)))
                })
    }

    /// Whether an event with this raw JSON text could match any enabled alert. `false` is
    /// certain (no alert can fire, so the event need not be parsed); `true` means "parse and
    /// see". One byte scan reads `eventName` and `eventSource` and looks them up in the alert
    /// index, and searches the literals of alerts the index cannot reach. When every alert
    /// under a key is limited to literal regions, to failed calls (`unauthorized`) or to
    /// included source ranges, the event's `awsRegion`, `errorCode` or `sourceIPAddress` is
    /// then looked for too. Anything unusual (escapes, a repeated key, a missing name)
    /// answers `true`.
    ///
    /// ```
    /// let e = trailalerts::Engine::builder().build().unwrap();
    /// assert!(e.may_match(br#"{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}"#));
    /// assert!(!e.may_match(br#"{"eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com"}"#));
    ///
    /// let only_paris = trailalerts::Engine::builder()
    ///     .builtin(false)
    ///     .alerts_json(r#"[{"id":"a","name":"a","risk":"low","events":["GetObject"],"regions":["eu-west-3"]}]"#)
    ///     .unwrap()
    ///     .build()
    ///     .unwrap();
    /// assert!(!only_paris.may_match(br#"{"eventName":"GetObject","awsRegion":"us-east-1"}"#));
    /// assert!(only_paris.may_match(br#"{"eventName":"GetObject","awsRegion":"eu-west-3"}"#));
    /// ```
    pub fn may_match(&self, raw: &[u8]) -> bool {
        let Some(pf) = &self.prefilter else {
            return true;
        };
        let (mut name, mut source): (Option<&[u8]>, Option<&[u8]>) = (None, None);
        let mut escaped = false;
        for m in pf.scan.find_iter(raw) {
            let k = m.pattern().as_usize();
            if k >= FIXED.len() || pf.fixed_literal.get(k) == Some(&true) {
                return true; // a literal of an unindexed alert
            }
            if k == 2 || k == 3 {
                escaped = true;
                continue;
            }
            let Some(text) = key_string(raw, m.end()) else {
                continue; // the text appeared as a value, not a key
            };
            let slot = if k == 0 { &mut name } else { &mut source };
            if slot.is_some() || text.is_none() {
                return true; // repeated key (maybe nested) or not a plain string: parse
            }
            *slot = text;
        }
        let Some(name) = name else { return true };
        if escaped {
            return true;
        }
        let mut seen = Seen::new(raw, &pf.keys);
        if self.in_index(pf, name, false, &mut seen) {
            return true;
        }
        if !self.by_source.is_empty()
            && source.is_none_or(|s| self.in_index(pf, s, true, &mut seen))
        {
            return true;
        }
        // Case-insensitive literals are ASCII; a value could still match one through Unicode
        // lowercasing (KELVIN SIGN is `k`), so such text is parsed.
        pf.ci
            .as_ref()
            .is_some_and(|a| a.is_match(raw) || crate::alert::folds_to_ascii(raw))
    }

    /// Evaluates a batch of event texts (e.g. the lines of a JSON Lines buffer) on up to
    /// `threads` threads. Results come in input order and equal evaluating the texts one by one.
    /// Filtering runs in parallel (it is stateless); ignores and thresholds are then applied in
    /// input order. If any text is not a valid event, nothing is applied and the errors
    /// (input index, problem) are returned instead, so a batch either counts fully or not at all.
    ///
    /// ```
    /// let mut e = trailalerts::Engine::builder().build().unwrap();
    /// let lines: Vec<&[u8]> = vec![
    ///     br#"{"eventID":"1","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}"#,
    ///     br#"{"eventID":"2","eventName":"DescribeInstances","eventSource":"ec2.amazonaws.com"}"#,
    /// ];
    /// let mut out = Vec::new();
    /// e.evaluate_batch(&lines, 2, &mut out).unwrap();
    /// assert_eq!(out.len(), 1);
    /// ```
    pub fn evaluate_batch(
        &mut self,
        texts: &[&[u8]],
        threads: usize,
        out: &mut Vec<AlertResult>,
    ) -> Result<(), Vec<(usize, String)>> {
        let errors = self.batch_inner(texts, threads, out, true);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Like [`Engine::evaluate_batch`], but invalid texts are skipped (and returned with their
    /// index) while every valid one is evaluated — what a scan wants: one bad record does not
    /// stop the rest.
    pub fn evaluate_batch_lenient(
        &mut self,
        texts: &[&[u8]],
        threads: usize,
        out: &mut Vec<AlertResult>,
    ) -> Vec<(usize, String)> {
        self.batch_inner(texts, threads, out, false)
    }

    fn batch_inner<'a>(
        &mut self,
        texts: &[&'a [u8]],
        threads: usize,
        out: &mut Vec<AlertResult>,
        strict: bool,
    ) -> Vec<(usize, String)> {
        let threads = threads.clamp(1, 64).min(texts.len().max(1));
        let chunk = texts.len().div_ceil(threads).max(1);
        let this: &Engine = self;
        // Each matched event's outcomes are prepared on the worker; only settling is ordered.
        type Found = Vec<(usize, Result<Vec<Pending>, String>)>;
        let work = |start: usize, part: &[&'a [u8]]| -> Found {
            let mut found = Vec::new();
            let mut w = Worker::new(this);
            for (k, t) in part.iter().enumerate() {
                // The prefilter before the shape check, as in `evaluate_text`.
                if !w.may_match(this, t.trim_ascii_start()) && looks_like_object(t.trim_ascii()) {
                    continue;
                }
                let parsed = std::str::from_utf8(t)
                    .map_err(|e| format!("not UTF-8: {e}"))
                    .and_then(Event::parse);
                match parsed {
                    Ok(ev) => {
                        if let Some(prepared) = w.prepare(this, &ev) {
                            found.push((start + k, Ok(prepared)));
                        }
                    }
                    Err(e) => found.push((start + k, Err(e))),
                }
            }
            w.flush(this);
            found
        };
        let parts: Vec<Found> = if threads <= 1 {
            vec![work(0, texts)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = texts
                    .chunks(chunk)
                    .enumerate()
                    .map(|(c, part)| s.spawn(move || work(c * chunk, part)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            vec![(0, Err("internal error: a worker thread failed".to_owned()))]
                        })
                    })
                    .collect()
            })
        };
        let errors: Vec<(usize, String)> = parts
            .iter()
            .flatten()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (*i, e.clone())))
            .collect();
        if strict && !errors.is_empty() {
            return errors;
        }
        self.stats.events += (texts.len() - errors.len()) as u64;
        for (_, found) in parts.into_iter().flatten() {
            let Ok(prepared) = found else { continue };
            for p in prepared {
                self.settle_one(p, None, out);
            }
        }
        errors
    }

    /// Evaluates every record of one buffer (a CloudTrail log file's text, JSON Lines, or one
    /// event) without changing the engine, so several buffers can be prepared on several
    /// threads at once. Apply each with [`Engine::settle`], in the order the buffers should
    /// count (thresholds and statistics depend on it). `source` names the buffer in errors;
    /// `cancel` stops early (checked every 1,024 records).
    ///
    /// ```
    /// let mut e = trailalerts::Engine::builder().build().unwrap();
    /// let file = br#"{"Records":[
    ///   {"eventID":"1","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"},
    ///   {"eventID":"2","eventName":"DescribeInstances","eventSource":"ec2.amazonaws.com"},
    ///   {"eventID":"3"}]}"#;
    /// let prepared = std::thread::scope(|s| s.spawn(|| e.prepare_records("f.json", file, None)).join().unwrap());
    /// assert_eq!((prepared.events(), prepared.bad_records()), (2, 1));
    /// let (mut results, mut problems) = (Vec::new(), Vec::new());
    /// e.settle(prepared, &mut results, &mut problems);
    /// assert_eq!(results.len(), 1);
    /// assert!(problems[0].to_string().contains("eventName"));
    /// ```
    pub fn prepare_records(
        &self,
        source: &str,
        buf: &[u8],
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Prepared {
        let mut p = Prepared::default();
        let mut w = Worker::new(self);
        let mut records = crate::source::Records::new(buf);
        for n in 0usize.. {
            if n % 1024 == 1023 && cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                p.cancelled = true;
                break;
            }
            match Worker::next_event(&mut records) {
                None => break,
                Some(Ok(ev)) => {
                    p.events += 1;
                    if let Some(fired) = w.prepare(self, &ev) {
                        p.items.push(PreparedItem::Fired(fired));
                    }
                }
                Some(Err(mut e)) => {
                    e.position_mut().source = Some(source.to_owned());
                    p.items.push(PreparedItem::Problem(e));
                }
            }
        }
        p
    }

    /// [`Engine::prepare_records`] and [`Engine::settle`] in one pass, for one thread: each
    /// event's results are built and handed to `on_result` while the event is at hand, and bad
    /// records to `on_problem`, in record order. Nothing is held for the whole buffer, and a
    /// threshold that fires builds its result from the event it just read.
    ///
    /// ```
    /// let mut e = trailalerts::Engine::builder().build().unwrap();
    /// let file = br#"{"Records":[
    ///   {"eventID":"1","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"},
    ///   {"eventID":"2"}]}"#;
    /// let (mut results, mut problems) = (Vec::new(), Vec::new());
    /// let read = e.evaluate_records("f.json", file, None, &mut |r| results.push(r), &mut |p| problems.push(p));
    /// assert_eq!((read.events, read.bad_records, results.len()), (1, 1, 1));
    /// assert!(problems[0].to_string().contains("eventName"));
    /// ```
    pub fn evaluate_records(
        &mut self,
        source: &str,
        buf: &[u8],
        cancel: Option<&std::sync::atomic::AtomicBool>,
        on_result: &mut dyn FnMut(AlertResult),
        on_problem: &mut dyn FnMut(crate::EventError),
    ) -> RecordCounts {
        let mut counts = RecordCounts::default();
        let mut w = Worker::new(self);
        let mut records = crate::source::Records::new(buf);
        let mut out = Vec::new();
        for n in 0usize.. {
            if n % 1024 == 1023 && cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                counts.cancelled = true;
                break;
            }
            match Worker::next_event(&mut records) {
                None => break,
                Some(Ok(ev)) => {
                    counts.events += 1;
                    self.stats.events += 1;
                    for m in w.matches(self, &ev) {
                        let p = self.prepare(m.alert, &ev, Keep::Nothing);
                        self.settle_one(p, Some(&ev), &mut out);
                    }
                    for r in out.drain(..) {
                        on_result(r);
                    }
                }
                Some(Err(mut e)) => {
                    e.position_mut().source = Some(source.to_owned());
                    counts.bad_records += 1;
                    on_problem(e);
                }
            }
        }
        counts
    }

    /// Applies a [`Prepared`] buffer: ignores' records, thresholds and statistics, in record
    /// order. Results are appended to `out`, bad records to `problems`.
    pub fn settle(
        &mut self,
        prepared: Prepared,
        out: &mut Vec<AlertResult>,
        problems: &mut Vec<crate::EventError>,
    ) {
        self.stats.events += prepared.events;
        for item in prepared.items {
            match item {
                PreparedItem::Fired(fired) => {
                    for p in fired {
                        self.settle_one(p, None, out);
                    }
                }
                PreparedItem::Problem(e) => problems.push(e),
            }
        }
    }

    /// Like [`Engine::evaluate_raw`] for text not yet checked to be JSON: a skipped text is only
    /// checked to look like one JSON object (`{…}`); anything else is an error.
    pub fn evaluate_text(
        &mut self,
        text: &str,
        out: &mut Vec<AlertResult>,
    ) -> Result<bool, String> {
        // The prefilter first, then the shape check: the prefilter reads the text from its
        // start, as the parse does, so the last byte the shape check reads is then in cache
        // (reading it first cost a cache miss per event: 10–18 % of this path's time).
        if self.prefilter_on() {
            let t = text.trim_start().as_bytes();
            if self.skip(t) && looks_like_object(text.trim().as_bytes()) {
                self.stats.events += 1;
                return Ok(false);
            }
        }
        let ev = Event::parse(text)?;
        self.evaluate_into(&ev, out);
        Ok(true)
    }

    /// Parses and evaluates one record's raw JSON, skipping the parse when [`Engine::may_match`]
    /// says no alert can fire. Returns `Ok(false)` for a skipped event. Skipped records are not
    /// validated beyond being JSON.
    pub fn evaluate_raw(
        &mut self,
        raw: &serde_json::value::RawValue,
        out: &mut Vec<AlertResult>,
    ) -> Result<bool, String> {
        if self.skip(raw.get().as_bytes()) {
            self.stats.events += 1;
            return Ok(false);
        }
        let ev = Event::from_raw_value(raw)?;
        self.evaluate_into(&ev, out);
        Ok(true)
    }

    /// The alerts whose filters pass for `ev` (ignores and thresholds not applied yet), in
    /// alert order. Pure: does not touch state, so several threads may call it at once.
    pub fn matches(&self, ev: &Event<'_>, out: &mut Vec<Match>) {
        self.matches_with(ev, &mut Candidates::default(), out);
    }

    fn matches_with(&self, ev: &Event<'_>, cands: &mut Candidates, out: &mut Vec<Match>) {
        cands.fill(self, ev);
        let facts = Facts::default();
        cands.keep_passing(|i| self.passes(i, ev, &facts));
        out.extend(cands.list.iter().map(|&i| Match { alert: i }));
    }

    fn passes<'e>(&self, i: usize, ev: &'e Event<'_>, facts: &Facts<'e>) -> bool {
        let Some(&checks) = self.checks.get(i) else {
            return false;
        };
        checks.none()
            || self
                .alerts
                .get(i)
                .is_some_and(|a| a.filters_match(checks, ev, &self.aws, facts))
    }

    /// The alerts whose filters on the event's name and service pass (see
    /// `CompiledAlert::call_filters_match`), grouped by their `Checks` and in alert order
    /// within a group: those the index files under the name, a prefix of it, or the service,
    /// and the unindexed ones.
    fn candidates(&self, ev: &Event<'_>, scratch: &mut String, out: &mut Vec<usize>) {
        out.clear();
        if let Some(name) = ev.event_name() {
            lowercase_into(scratch, name);
            if let Some(v) = self.by_name.get(scratch.as_str()) {
                out.extend_from_slice(v);
            }
            for (len, map) in &self.by_prefix {
                if let Some(v) = scratch.get(..*len).and_then(|p| map.get(p)) {
                    out.extend_from_slice(v);
                }
            }
        }
        if !self.by_source.is_empty()
            && let Some(src) = ev.event_source()
        {
            lowercase_into(scratch, src);
            if let Some(v) = self.by_source.get(scratch.as_str()) {
                out.extend_from_slice(v);
            }
        }
        out.extend_from_slice(&self.always);
        out.sort_unstable();
        out.dedup();
        out.retain(|&i| self.alerts.get(i).is_some_and(|a| a.call_filters_match(ev)));
        // Alerts with the same filters side by side: the per-event checks then take the same
        // branches candidate after candidate. Callers put the passing ones back in alert order.
        out.sort_by_key(|&i| self.checks.get(i).copied().unwrap_or_default());
    }

    /// The ignore silencing alert `i` for `ev`: (ignore id, global?).
    fn ignored(&self, i: usize, ev: &Event<'_>) -> Option<(&str, bool)> {
        let a = self.alerts.get(i)?;
        if let Some(ig) = a.ignores.iter().find(|ig| ig.matches(ev)) {
            return Some((&ig.def.id, false));
        }
        self.global_ignores
            .iter()
            .find(|ig| ig.matches(ev))
            .map(|ig| (ig.def.id.as_str(), true))
    }

    /// Turns on recording of silenced results (drain them with [`Engine::take_silenced`]).
    pub fn record_silenced(&mut self, on: bool) {
        self.record_silenced = on;
        if !on {
            self.silenced.clear();
        }
    }

    /// The results ignores silenced since the last call.
    pub fn take_silenced(&mut self) -> Vec<Silenced> {
        std::mem::take(&mut self.silenced)
    }

    /// Removes an ignore from an alert (or a global one); returns whether it existed. Results
    /// it silenced stay silenced; new events are no longer silenced by it.
    pub fn remove_ignore(&mut self, alert_id: Option<&str>, ignore_id: &str) -> bool {
        match alert_id {
            None => {
                let n = self.global_ignores.len();
                self.global_ignores.retain(|i| i.def.id != ignore_id);
                n != self.global_ignores.len()
            }
            Some(id) => {
                let Some(a) = self.alerts.iter_mut().find(|a| a.def.id == id) else {
                    return false;
                };
                let n = a.ignores.len();
                a.ignores.retain(|i| i.def.id != ignore_id);
                a.def.ignores.retain(|i| i.id != ignore_id);
                n != a.ignores.len()
            }
        }
    }

    /// The id of the first ignore (alert's own, then global) that silences `ev` for an alert.
    pub fn ignored_by(&self, alert_id: &str, ev: &Event<'_>) -> Option<&str> {
        let a = self.alerts.iter().find(|a| a.def.id == alert_id)?;
        a.ignores
            .iter()
            .chain(&self.global_ignores)
            .find(|ig| ig.matches(ev))
            .map(|ig| ig.def.id.as_str())
    }

    /// Evaluates one event: filters, ignores, then thresholds. Results come in alert order.
    pub fn evaluate(&mut self, ev: &Event<'_>) -> Vec<AlertResult> {
        let mut out = Vec::new();
        self.evaluate_into(ev, &mut out);
        out
    }

    /// Like [`Engine::evaluate`], appending to `out` (saves an allocation per event).
    pub fn evaluate_into(&mut self, ev: &Event<'_>, out: &mut Vec<AlertResult>) {
        self.stats.events += 1;
        let mut cands = std::mem::take(&mut self.cands);
        cands.fill(self, ev);
        let facts = Facts::default();
        cands.keep_passing(|i| self.passes(i, ev, &facts));
        for &i in &cands.list {
            self.apply(i, ev, out);
        }
        self.cands = cands;
    }

    fn apply(&mut self, i: usize, ev: &Event<'_>, out: &mut Vec<AlertResult>) {
        let p = self.prepare(i, ev, Keep::Nothing);
        self.settle_one(p, Some(ev), out);
    }

    /// Everything about alert `i` firing on `ev` that does not depend on engine state: the
    /// ignore check and the result itself. Batches run this on many threads and settle the
    /// outcomes in input order afterwards.
    fn prepare(&self, i: usize, ev: &Event<'_>, keep: Keep) -> Pending {
        let Some(a) = self.alerts.get(i) else {
            return Pending::Nothing;
        };
        if let Some((ignore_id, global)) = self.ignored(i, ev) {
            return Pending::Silenced(self.record_silenced.then(|| Silenced {
                alert_id: a.def.id.clone(),
                ignore_id: ignore_id.to_owned(),
                global,
                event_id: event_id_of(ev),
                event_time: ev.event_time().map(str::to_owned),
            }));
        }
        let Some(t) = &a.def.threshold else {
            return Pending::Fire(Box::new(make_result(a, ev)));
        };
        let Some(time) = ev.time_ms() else {
            return Pending::Untimed;
        };
        let window_ms = i64::try_from(t.window_seconds)
            .unwrap_or(i64::MAX / 4)
            .saturating_mul(1000);
        // No result yet: most counted events never reach the count, and a result is a dozen
        // owned strings. The shared raw text is enough to build it when the threshold fires.
        Pending::Count(Counted {
            alert: i,
            group: group_key(&a.group_by, ev),
            time,
            count: t.count,
            window_ms,
            raw: matches!(keep, Keep::Raw).then(|| ev.shared_raw()),
        })
    }

    /// Applies a prepared outcome: statistics, silenced records and threshold state, in the
    /// order events arrived.
    /// `ev` is the event when it is still at hand (one event at a time); batches settle after
    /// their events are gone and parse a fired threshold's event again from its shared text.
    fn settle_one(&mut self, p: Pending, ev: Option<&Event<'_>>, out: &mut Vec<AlertResult>) {
        if matches!(p, Pending::Nothing) {
            return;
        }
        self.stats.matched += 1;
        match p {
            Pending::Nothing => {}
            Pending::Silenced(s) => {
                self.stats.ignored += 1;
                self.silenced.extend(s);
            }
            Pending::Untimed => self.stats.untimed += 1,
            Pending::Fire(result) => {
                self.stats.results += 1;
                out.push(*result);
            }
            Pending::Count(c) => {
                let Some(a) = self.alerts.get(c.alert) else {
                    return;
                };
                let Some(f) =
                    self.thresholds
                        .observe(&a.def.id, &c.group, c.time, c.count, c.window_ms)
                else {
                    return;
                };
                let built = match (ev, &c.raw) {
                    (Some(ev), _) => Some(make_result(a, ev)),
                    (None, Some(raw)) => Some(result_from_raw(a, raw)),
                    (None, None) => None,
                };
                // Prepared for settling without its event, a count always keeps the raw text.
                debug_assert!(built.is_some(), "a deferred count without its event text");
                let Some(mut result) = built else {
                    return;
                };
                result.count = Some(f.count);
                result.window_start = Some(format_epoch_ms(f.first_ms));
                self.stats.results += 1;
                out.push(result);
            }
        }
    }
}

/// The outcome of one alert matching one event, before engine state is applied.
#[derive(Debug)]
enum Pending {
    /// The alert no longer exists.
    Nothing,
    /// An ignore silenced it (the record, when silenced results are recorded).
    Silenced(Option<Silenced>),
    /// A threshold alert on an event without a usable time.
    Untimed,
    /// A result.
    Fire(Box<AlertResult>),
    /// An event a threshold alert counts; a result when its group reaches the count.
    Count(Counted),
}

/// One thread's use of an engine while it prepares events without changing it: reusable
/// scratch buffers, and, for batches of texts, the adaptive prefilter (consulted while it
/// pays; its statistics are shared with the engine every 256 checks, so other workers learn
/// without contending on every event).
struct Worker {
    prefilter: bool,
    seen: (u64, u64),
    cands: Candidates,
    matches: Vec<Match>,
}

impl Worker {
    fn new(engine: &Engine) -> Self {
        Self {
            prefilter: engine.prefilter.is_some() && engine.prefilter_pays(),
            seen: (0, 0),
            cands: Candidates::default(),
            matches: Vec::new(),
        }
    }

    /// False when no alert can match `raw` (always true once the prefilter stopped paying).
    fn may_match(&mut self, engine: &Engine, raw: &[u8]) -> bool {
        if !self.prefilter {
            return true;
        }
        let pass = engine.may_match(raw);
        self.seen.0 += 1;
        self.seen.1 += u64::from(pass);
        if self.seen.0 == PREFILTER_SAMPLE / 4 {
            self.flush(engine);
            self.prefilter = engine.prefilter_pays();
        }
        pass
    }

    /// Shares what the prefilter saw with the engine (call when done).
    fn flush(&mut self, engine: &Engine) {
        engine.prefilter_seen.add(self.seen.0, self.seen.1);
        self.seen = (0, 0);
    }

    /// The next record of `records` as an event. The prefilter is not consulted: reading each
    /// record straight into an event, in one pass over its text, costs less than delimiting
    /// it and prefiltering it, even when almost no event passes (measured on 100,000
    /// generated events, one thread: the 15 CIS alerts on the production mix, 2.5 % passing,
    /// 150 ms against 173 ms; on the alert-heavy mix, 23 % passing, 174 against 219 ms).
    fn next_event<'b>(
        records: &mut crate::source::Records<'b>,
    ) -> Option<Result<Event<'b>, crate::EventError>> {
        records.next_event().map(|r| r.map(|(ev, _)| ev))
    }

    /// The alerts `ev` matches, in alert order.
    fn matches(&mut self, engine: &Engine, ev: &Event<'_>) -> &[Match] {
        self.matches.clear();
        engine.matches_with(ev, &mut self.cands, &mut self.matches);
        &self.matches
    }

    /// The prepared outcomes of the alerts `ev` matches, or `None` when none does; settled
    /// after `ev` is gone.
    fn prepare(&mut self, engine: &Engine, ev: &Event<'_>) -> Option<Vec<Pending>> {
        let matches = self.matches(engine, ev);
        (!matches.is_empty()).then(|| {
            matches
                .iter()
                .map(|m| engine.prepare(m.alert, ev, Keep::Raw))
                .collect()
        })
    }
}

/// The candidate alerts of events, remembered by (`eventName`, `eventSource`) as written, and
/// within that by region and outcome when some candidate's filters read them. An account's
/// events fall in a few thousand such keys, so after the first event of a key, its
/// candidates are one lookup instead of several lookups, a sort, a dedup and the filters on
/// those four fields: with many alerts on one call, an event meets only those limited to its
/// region and outcome (or not limited). Events insert here (unlike in the index maps), so the
/// map keeps a hash keyed per process (foldhash's, a few times cheaper than std's SipHash
/// for these short keys), and its size is bounded.
#[derive(Debug, Clone, Default)]
struct Candidates {
    memo: HashMap<String, Call, foldhash::fast::RandomState>,
    key: String,
    scratch: String,
    /// The candidates of the last event filled in, grouped by their `Checks`.
    list: Vec<usize>,
}

/// The candidates of one (name, source) pair.
#[derive(Debug, Clone)]
struct Call {
    /// Before the region and outcome filters.
    all: Box<[usize]>,
    /// Whether some of them read the region, the outcome.
    reads_region: bool,
    reads_outcome: bool,
    /// After them, per region met so far (a map: an account may use every region), then per
    /// outcome when some read it. Events without a region, and all events when none reads
    /// it, are under `no_region`.
    by_region: HashMap<Box<str>, Outcomes, foldhash::fast::RandomState>,
    no_region: Outcomes,
}

/// Candidate lists by outcome (`None` when no candidate reads it).
type Outcomes = Vec<(Option<Outcome>, Box<[usize]>)>;

impl Call {
    fn new(engine: &Engine, all: &[usize]) -> Self {
        let alerts = || all.iter().filter_map(|&i| engine.alerts.get(i));
        Self {
            reads_region: alerts().any(CompiledAlert::reads_region),
            reads_outcome: alerts().any(CompiledAlert::reads_outcome),
            all: all.into(),
            by_region: HashMap::default(),
            no_region: Vec::new(),
        }
    }

    /// What its lists are kept by for `ev`: the region and the outcome, each when some
    /// candidate reads it.
    fn place_of<'e>(&self, ev: &'e Event<'_>) -> (Option<&'e str>, Option<Outcome>) {
        (
            ev.region().filter(|_| self.reads_region),
            self.reads_outcome.then(|| ev.outcome()),
        )
    }

    /// The candidates whose region and outcome filters pass, into `out`.
    fn place(
        &self,
        engine: &Engine,
        (region, outcome): (Option<&str>, Option<Outcome>),
        out: &mut Vec<usize>,
    ) {
        out.extend(self.all.iter().copied().filter(|&i| {
            engine
                .alerts
                .get(i)
                .is_some_and(|a| a.place_filters_match(region, outcome))
        }));
    }

    /// Lists remembered.
    fn places(&self) -> usize {
        self.by_region.values().map(Vec::len).sum::<usize>() + self.no_region.len()
    }
}

/// Pairs remembered before the memo starts again (a few hundred KB at most).
const CANDIDATE_PAIRS: usize = 4096;

/// Regions and outcomes remembered per pair before its list starts again (CloudTrail has
/// about 35 regions and three outcomes; most calls are seen in a few).
const PLACES_PER_PAIR: usize = 128;

/// Longer keys and regions are not remembered, so the memo's size stays bounded whatever the
/// events hold (real names, services and regions are well under 100 bytes each).
const MEMO_KEY_BYTES: usize = 512;

impl Candidates {
    /// Keeps the candidates that `passes`, in alert order.
    fn keep_passing(&mut self, passes: impl Fn(usize) -> bool) {
        self.list.retain(|&i| passes(i));
        self.list.sort_unstable();
    }

    fn fill(&mut self, engine: &Engine, ev: &Event<'_>) {
        self.key.clear();
        push_key_part(&mut self.key, ev.event_name());
        push_key_part(&mut self.key, ev.event_source());
        self.list.clear();
        let call = match self.memo.get_mut(self.key.as_str()) {
            Some(call) => call,
            None => {
                engine.candidates(ev, &mut self.scratch, &mut self.list);
                let call = Call::new(engine, &self.list);
                self.list.clear();
                if self.key.len() > MEMO_KEY_BYTES {
                    return call.place(engine, call.place_of(ev), &mut self.list);
                }
                if self.memo.len() >= CANDIDATE_PAIRS {
                    self.memo.clear();
                }
                self.memo.entry(self.key.clone()).or_insert(call)
            }
        };
        if !call.reads_region && !call.reads_outcome {
            self.list.extend_from_slice(&call.all);
            return;
        }
        let (region, outcome) = call.place_of(ev);
        let outcomes = match region {
            Some(r) => call.by_region.get(r),
            None => Some(&call.no_region),
        };
        if let Some((_, known)) = outcomes.and_then(|v| v.iter().find(|(o, _)| *o == outcome)) {
            self.list.extend_from_slice(known);
            return;
        }
        call.place(engine, (region, outcome), &mut self.list);
        if region.is_some_and(|r| r.len() > MEMO_KEY_BYTES) {
            return;
        }
        if call.places() >= PLACES_PER_PAIR {
            call.by_region.clear();
            call.no_region.clear();
        }
        let known = (outcome, self.list.as_slice().into());
        match region {
            Some(r) => call.by_region.entry(r.into()).or_default().push(known),
            None => call.no_region.push(known),
        }
    }
}

/// Appends one part of a memo key so that different (name, source) pairs never give the
/// same key: absent, or the length (digits, least significant first) then the text.
fn push_key_part(key: &mut String, part: Option<&str>) {
    let Some(text) = part else {
        key.push('-');
        return;
    };
    let mut n = text.len();
    loop {
        key.push(char::from(b'0' + (n % 10) as u8));
        n /= 10;
        if n == 0 {
            break;
        }
    }
    key.push(':');
    key.push_str(text);
}

/// Events the prefilter checks before deciding whether it pays.
const PREFILTER_SAMPLE: u64 = 1024;

/// How many events the prefilter checked and let through (see `Engine::prefilter_pays`).
#[derive(Debug, Default)]
struct PrefilterSeen {
    checked: AtomicU64,
    passed: AtomicU64,
}

impl PrefilterSeen {
    fn add(&self, checked: u64, passed: u64) {
        if checked > 0 {
            self.checked.fetch_add(checked, Ordering::Relaxed);
            self.passed.fetch_add(passed, Ordering::Relaxed);
        }
    }
}

/// The events of one buffer evaluated by [`Engine::prepare_records`], waiting to be applied
/// in order by [`Engine::settle`] (which applies thresholds and counts).
#[derive(Debug, Default)]
pub struct Prepared {
    events: u64,
    cancelled: bool,
    items: Vec<PreparedItem>,
}

impl Prepared {
    /// Valid events read (skipped by the prefilter or evaluated).
    pub fn events(&self) -> u64 {
        self.events
    }
    /// Records that were not valid events (reported by [`Engine::settle`]).
    pub fn bad_records(&self) -> u64 {
        self.items
            .iter()
            .filter(|i| matches!(i, PreparedItem::Problem(_)))
            .count() as u64
    }
    /// Whether `cancel` stopped the buffer before its end.
    pub fn cancelled(&self) -> bool {
        self.cancelled
    }
}

#[derive(Debug)]
enum PreparedItem {
    Fired(Vec<Pending>),
    Problem(crate::EventError),
}

/// A threshold observation waiting to be counted.
#[derive(Debug)]
struct Counted {
    alert: usize,
    group: String,
    time: i64,
    count: u32,
    window_ms: i64,
    // The event's text, when the count is settled after the event is gone.
    raw: Option<Arc<RawValue>>,
}

/// Whether a prepared outcome must outlive its event (see `Counted::raw`).
#[derive(Debug, Clone, Copy)]
enum Keep {
    Nothing,
    Raw,
}

/// What [`Engine::evaluate_records`] read from one buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Valid events read (skipped by the prefilter or evaluated).
    pub events: u64,
    /// Records that were not valid events (each passed to `on_problem`).
    pub bad_records: u64,
    /// Whether `cancel` stopped the buffer before its end.
    pub cancelled: bool,
}

fn group_key(keys: &[GroupKey], ev: &Event<'_>) -> String {
    // One key (the usual case) is its value as it is: `display_user` has often built it
    // already, so it is not copied again.
    if let [k] = keys {
        return group_value(k, ev).into_owned();
    }
    let mut s = String::new();
    for (n, k) in keys.iter().enumerate() {
        if n > 0 {
            s.push('\u{1f}');
        }
        s.push_str(&group_value(k, ev));
    }
    s
}

/// One `group_by` key's value for `ev` (empty when the event has none).
fn group_value<'e>(k: &GroupKey, ev: &'e Event<'_>) -> Cow<'e, str> {
    let text = |v: Option<&'e str>| Cow::Borrowed(v.unwrap_or(""));
    match k {
        GroupKey::User => ev.display_user(),
        GroupKey::Region => text(ev.region()),
        GroupKey::SourceIp => text(ev.source_ip()),
        GroupKey::Account => text(ev.account_id()),
        GroupKey::Event => text(ev.event_name()),
        GroupKey::Service => text(ev.event_source()),
        GroupKey::Path(p) => match ev.lookup(p) {
            FieldRef::Missing => Cow::Borrowed(""),
            FieldRef::Str(v) => Cow::Borrowed(v),
            FieldRef::Value(v) => Cow::Owned(v.to_string()),
        },
    }
}

/// `s` lowercased (Unicode, as the index keys are) into `out`, without allocating for ASCII.
fn lowercase_into(out: &mut String, s: &str) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
    } else {
        out.push_str(&s.to_lowercase());
    }
}

/// `eventID`, or a hash of the raw text for events without one.
pub(crate) fn event_id_of(ev: &Event<'_>) -> String {
    ev.event_id()
        .map_or_else(|| stable_id(&[ev.raw()]), str::to_owned)
}

/// A fired threshold's result, from the event's shared text (the text parsed when the event was
/// counted, so it parses again; should it not, the result still carries the alert and the raw
/// event rather than being lost).
fn result_from_raw(a: &CompiledAlert, raw: &Arc<RawValue>) -> AlertResult {
    match Event::parse_shared(raw) {
        Ok(ev) => make_result(a, &ev),
        Err(_) => {
            let event_id = stable_id(&[raw.get()]);
            AlertResult {
                id: a.id_hash.push(&event_id).finish(),
                alert_id: a.def.id.clone(),
                alert_name: a.def.name.clone(),
                risk: a.def.risk,
                event_id,
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
                save: a.def.save_results,
                raw: Arc::clone(raw),
            }
        }
    }
}

fn make_result(a: &CompiledAlert, ev: &Event<'_>) -> AlertResult {
    let event_id = event_id_of(ev);
    let id = a.id_hash.push(&event_id).finish();
    AlertResult {
        id,
        alert_id: a.def.id.clone(),
        alert_name: a.def.name.clone(),
        risk: a.def.risk,
        event_id,
        event_time: ev.event_time().map(str::to_owned),
        event_name: ev.event_name().map(str::to_owned),
        event_source: ev.event_source().map(str::to_owned),
        region: ev.region().map(str::to_owned),
        user: ev.display_user().into_owned(),
        source_ip: ev.source_ip().map(str::to_owned),
        error_code: ev.error_code().map(str::to_owned),
        account_id: ev.account_id().map(str::to_owned),
        count: None,
        window_start: None,
        save: a.def.save_results,
        raw: ev.shared_raw(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn fired_threshold_results_from_shared_text() {
        let e = Engine::builder()
            .builtin(false)
            .alerts_json(
                r#"{"id":"t","name":"T","risk":"low","threshold":{"count":2,"window_seconds":60}}"#,
            )
            .unwrap()
            .build()
            .unwrap();
        let a = e.alerts.first().unwrap();
        let text = r#"{"eventID":"e1","eventTime":"2024-01-01T00:00:00Z","eventName":"GetObject","eventSource":"s3.amazonaws.com","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9","errorCode":"AccessDenied","recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","sessionContext":{"sessionIssuer":{"userName":"R"}}}}"#;
        let ev = Event::parse(text).unwrap();
        let raw = ev.shared_raw();
        let direct = serde_json::to_value(make_result(a, &ev)).unwrap();
        let again = result_from_raw(a, &raw);
        assert!(
            Arc::ptr_eq(&again.raw, &raw),
            "the shared text is reused, not copied"
        );
        assert_eq!(serde_json::to_value(&again).unwrap(), direct);
        assert_eq!(again.user, "R/s");

        // Text that does not parse as an event (it cannot come from a counted event) still
        // gives a result naming the alert and carrying the raw text.
        let bad: Arc<RawValue> =
            Arc::from(RawValue::from_string(r#"{"eventName":5}"#.to_owned()).unwrap());
        let r = result_from_raw(a, &bad);
        assert_eq!((r.alert_id.as_str(), r.alert_name.as_str()), ("t", "T"));
        assert_eq!(r.event_id, stable_id(&[bad.get()]));
        assert_eq!(r.id, stable_id(&["t", &r.event_id]));
        assert_eq!(r.raw.get(), bad.get());
        assert!(r.event_name.is_none());
    }

    #[test]
    fn texts_are_skipped_only_when_whole_objects_and_reported_otherwise() {
        let mut e = Engine::builder().build().unwrap();
        assert!(e.prefilter_on(), "the catalog has a prefilter");
        let mut out = Vec::new();
        // No alert watches this call: skipped unparsed, surrounding whitespace or not.
        let quiet = r#"{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com"}"#;
        for t in [quiet.to_owned(), format!(" \n{quiet}\r\n ")] {
            assert_eq!(e.evaluate_text(&t, &mut out), Ok(false), "{t:?}");
        }
        // The same call cut short, or not an object: parsed, so reported.
        let cut = r#"{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com""#;
        assert!(e.evaluate_text(cut, &mut out).is_err());
        assert!(
            e.evaluate_text(r#"["eventName","ListBuckets"]"#, &mut out)
                .is_err()
        );
        assert!(out.is_empty());
        // A watched call is parsed and fires.
        let loud = r#" {"eventID":"1","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","eventTime":"2024-01-01T00:00:00Z"} "#;
        assert_eq!(e.evaluate_text(loud, &mut out), Ok(true));
        assert!(
            out.iter()
                .any(|r| r.event_name.as_deref() == Some("StopLogging"))
        );
        // The same in batches of texts.
        let texts = [quiet.as_bytes(), cut.as_bytes(), loud.as_bytes()];
        let mut batch = Vec::new();
        let bad = e.evaluate_batch_lenient(&texts, 1, &mut batch);
        assert_eq!(bad.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1]);
        assert_eq!(batch.len(), out.len());
    }

    #[test]
    fn evaluate_records_stops_when_cancelled_and_reports_bad_records() {
        let mut e = Engine::builder().build().unwrap();
        let mut recs: Vec<String> = (0..3000)
            .map(|i| format!(r#"{{"eventID":"{i}","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}}"#))
            .collect();
        recs.insert(1, r#"{"eventID":"bad","eventName":7}"#.to_owned());
        let file = format!(r#"{{"Records":[{}]}}"#, recs.join(","));
        let (mut results, mut problems) = (0, Vec::new());
        let read = e.evaluate_records(
            "f.json",
            file.as_bytes(),
            None,
            &mut |_| results += 1,
            &mut |p| problems.push(p),
        );
        assert_eq!(
            (read.events, read.bad_records, read.cancelled),
            (3000, 1, false)
        );
        assert_eq!(results, 3000);
        assert_eq!(problems.len(), 1);
        let shown = problems.first().unwrap().to_string();
        assert!(
            shown.contains("f.json") && shown.contains("eventName"),
            "{shown}"
        );

        let stop = std::sync::atomic::AtomicBool::new(true);
        let read = e.evaluate_records(
            "f.json",
            file.as_bytes(),
            Some(&stop),
            &mut |_| {},
            &mut |_| {},
        );
        assert!(read.cancelled);
        assert_eq!(
            read.events + read.bad_records,
            1023,
            "checked every 1,024 records"
        );
    }

    #[test]
    fn candidate_memo_keys_are_distinct() {
        let key = |name: Option<&str>, source: Option<&str>| {
            let mut k = String::new();
            push_key_part(&mut k, name);
            push_key_part(&mut k, source);
            k
        };
        let long = "a".repeat(10);
        let pairs = [
            (None, None),
            (Some(""), None),
            (None, Some("")),
            (Some(""), Some("")),
            (Some("ab"), Some("c")),
            (Some("a"), Some("bc")),
            (Some("x"), None),
            (None, Some("x")),
            (Some("1:x"), None),
            (Some(long.as_str()), None),
            (Some("-"), Some("-")),
        ];
        let keys: std::collections::HashSet<String> =
            pairs.iter().map(|&(n, s)| key(n, s)).collect();
        assert_eq!(keys.len(), pairs.len());
    }

    #[test]
    fn remembered_candidates_follow_the_alert_set() {
        let mut e = Engine::builder()
            .builtin(false)
            .alerts_json(
                r#"[{"id":"a","name":"A","risk":"low","events":["Get*"]},
                {"id":"s","name":"S","risk":"low","services":["s3"]}]"#,
            )
            .unwrap()
            .build()
            .unwrap();
        // More distinct (name, source) pairs than the memo holds, each seen twice.
        let text = |i: usize| {
            let (name, source) = match i % 3 {
                0 => (format!("GetX{i}"), "s3.amazonaws.com".to_owned()),
                1 => (format!("PutX{i}"), "s3.amazonaws.com".to_owned()),
                _ => (format!("GetX{i}"), format!("svc{i}.amazonaws.com")),
            };
            format!(r#"{{"eventName":"{name}","eventSource":"{source}"}}"#)
        };
        for round in 0..2 {
            for i in 0..(CANDIDATE_PAIRS + 500) {
                let t = text(i);
                let ev = Event::parse(&t).unwrap();
                let mut fresh = Vec::new();
                e.matches(&ev, &mut fresh);
                let got: Vec<String> = e.evaluate(&ev).into_iter().map(|r| r.alert_id).collect();
                let want: Vec<String> = fresh
                    .iter()
                    .map(|m| e.alerts.get(m.alert).unwrap().def.id.clone())
                    .collect();
                assert_eq!(got, want, "round {round}, {t}");
            }
        }
        let t = text(0);
        let ev = Event::parse(&t).unwrap();
        assert_eq!(e.evaluate(&ev).len(), 2);
        assert!(e.set_enabled("a", false));
        let ids: Vec<String> = e.evaluate(&ev).into_iter().map(|r| r.alert_id).collect();
        assert_eq!(ids, ["s"]);
    }

    #[test]
    fn long_names_are_evaluated_but_not_remembered() {
        let mut e = Engine::builder()
            .builtin(false)
            .alerts_json(r#"{"id":"g","name":"G","risk":"low","events":["Get*"]}"#)
            .unwrap()
            .build()
            .unwrap();
        for (len, remembered) in [(10, 1), (400, 1), (MEMO_KEY_BYTES, 0), (100_000, 0)] {
            e.cands.memo.clear();
            let t = format!(
                r#"{{"eventName":"Get{}","eventSource":"s3.amazonaws.com"}}"#,
                "x".repeat(len)
            );
            let ev = Event::parse(&t).unwrap();
            for _ in 0..2 {
                let ids: Vec<String> = e.evaluate(&ev).into_iter().map(|r| r.alert_id).collect();
                assert_eq!(ids, ["g"], "name of {len} bytes");
            }
            assert_eq!(e.cands.memo.len(), remembered, "name of {len} bytes");
        }
    }

    #[test]
    fn results_come_in_alert_order_whatever_filters_they_check() {
        // Candidates are checked grouped by the filters they have; results and matches must
        // still follow the order the alerts were defined in.
        let e = Engine::builder()
            .builtin(false)
            .alerts_json(
                r#"[
                {"id":"a","name":"A","risk":"low","events":["StopLogging"],"users":["mallory"]},
                {"id":"b","name":"B","risk":"low","events":["StopLogging"]},
                {"id":"c","name":"C","risk":"low","pattern":"{ $.eventName = StopLogging }"},
                {"id":"d","name":"D","risk":"low","events":["StopLogging"],"users":["mall*"]},
                {"id":"e","name":"E","risk":"low","services":["cloudtrail"]},
                {"id":"f","name":"F","risk":"low","events":["StopLogging"],"request_parameters":[{"path":"name","value":"trail"}]}
            ]"#,
            )
            .unwrap()
            .build()
            .unwrap();
        let ev = Event::parse(r#"{"eventID":"e1","eventTime":"2024-01-01T00:00:00Z","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","awsRegion":"us-east-1","requestParameters":{"name":"trail"},"userIdentity":{"type":"IAMUser","userName":"mallory"}}"#).unwrap();
        let mut m = Vec::new();
        e.matches(&ev, &mut m);
        assert_eq!(
            m.iter().map(|m| m.alert).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        let mut e = e;
        for _ in 0..2 {
            let ids: Vec<String> = e.evaluate(&ev).into_iter().map(|r| r.alert_id).collect();
            assert_eq!(ids, ["a", "b", "c", "d", "e", "f"]);
        }
    }

    #[test]
    fn remembered_candidates_follow_region_and_outcome() {
        // Alerts on one call that differ only in what they ask of the region and outcome: the
        // candidates remembered for one event of the call must not leak into the next.
        let mut e = Engine::builder()
            .builtin(false)
            .alerts_json(
                r#"[{"id":"east","name":"E","risk":"low","events":["ConsoleLogin"],"regions":["us-east-1"]},
                {"id":"eu","name":"P","risk":"low","pattern":"{ ($.eventName = \"ConsoleLogin\") && ($.awsRegion = \"eu-west-1\") }"},
                {"id":"us","name":"G","risk":"low","events":["ConsoleLogin"],"regions":["us-*"]},
                {"id":"denied","name":"D","risk":"low","events":["ConsoleLogin"],"response":"unauthorized"},
                {"id":"failed","name":"F","risk":"low","events":["ConsoleLogin"],"response":"failure"},
                {"id":"ok","name":"S","risk":"low","services":["signin"],"response":"success"}]"#,
            )
            .unwrap()
            .build()
            .unwrap();
        let text = |region: &str, error: &str, login: &str| {
            let region = if region.is_empty() {
                String::new()
            } else {
                format!(r#","awsRegion":"{region}""#)
            };
            let error = if error.is_empty() {
                String::new()
            } else {
                format!(r#","errorCode":"{error}""#)
            };
            format!(
                r#"{{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com"{region}{error},"responseElements":{{"ConsoleLogin":"{login}"}}}}"#
            )
        };
        let cases: [(&str, &str, &str, &[&str]); 9] = [
            ("us-east-1", "", "Success", &["east", "us", "ok"]),
            ("eu-west-1", "", "Success", &["eu", "ok"]),
            ("us-west-2", "", "Success", &["us", "ok"]),
            ("US-EAST-1", "", "Success", &["east", "us", "ok"]),
            // The pattern's `=` is exact.
            ("EU-WEST-1", "", "Success", &["ok"]),
            ("", "", "Success", &["ok"]),
            (
                "us-east-1",
                "AccessDenied",
                "Success",
                &["east", "us", "denied", "failed"],
            ),
            ("eu-west-1", "Throttling", "Success", &["eu", "failed"]),
            // Failure without an error code: from `responseElements`.
            ("us-east-1", "", "Failure", &["east", "us", "failed"]),
        ];
        for round in 0..2 {
            for (region, error, login, want) in cases {
                let t = text(region, error, login);
                let ev = Event::parse(&t).unwrap();
                let got: Vec<String> = e.evaluate(&ev).into_iter().map(|r| r.alert_id).collect();
                assert_eq!(got, want, "round {round}: {t}");
            }
        }
    }

    #[test]
    fn index_hits_stand_for_the_events_check_only_for_literal_lists() {
        // Each pair of alerts means the same; the second of each is written so the index
        // cannot stand for its `events` check (a class, or a wildcard after the prefix).
        let e = Engine::builder()
            .builtin(false)
            .alerts_json(
                r#"[{"id":"lit","name":"L","risk":"low","events":["CreateUser","DeleteUser"]},
                {"id":"lit2","name":"L","risk":"low","events":["CreateUse[r]","DeleteUse[r]"]},
                {"id":"wild","name":"W","risk":"low","events":["Delete*User","GetObject"]},
                {"id":"wild2","name":"W","risk":"low","events":["Delete*Use[r]","GetObjec[t]"]}]"#,
            )
            .unwrap()
            .build()
            .unwrap();
        let flags: Vec<bool> = e.alerts.iter().map(|a| a.events_by_name).collect();
        assert_eq!(flags, [true, false, false, false]);
        for name in [
            "CreateUser",
            "createuser",
            "CREATEUSER",
            "CreateUsers",
            "CreateUse",
            "DeleteUser",
            "DeleteGroup",
            "DeleteXUser",
            "Deleteuser",
            "GetObject",
            "getobject",
            "GetObjects",
            "CreateU\\u017fer",
            "\\u212aeep",
            "",
        ] {
            let text = format!(r#"{{"eventName":"{name}"}}"#);
            let ev = Event::parse(&text).unwrap();
            let mut found = Vec::new();
            e.matches(&ev, &mut found);
            let ids: Vec<&str> = found
                .iter()
                .map(|m| e.alerts.get(m.alert).unwrap().def.id.as_str())
                .collect();
            let has = |id: &str| ids.contains(&id);
            assert_eq!(has("lit"), has("lit2"), "{name}: {ids:?}");
            assert_eq!(has("wild"), has("wild2"), "{name}: {ids:?}");
            let glob_says = ["CreateUser", "DeleteUser"].iter().any(|g| {
                crate::Glob::new(g)
                    .unwrap()
                    .is_match(ev.event_name().unwrap())
            });
            assert_eq!(has("lit"), glob_says, "{name}");
        }
    }

    #[test]
    fn aws_ip_ranges_file() {
        let text = r#"{"syncToken":"1","prefixes":[{"ip_prefix":"3.5.140.0/22","region":"ap-northeast-2","service":"AMAZON"},
            {"ip_prefix":"3.5.142.0/23","region":"x","service":"S3"}],"ipv6_prefixes":[{"ipv6_prefix":"2600:1f00::/24","region":"x","service":"AMAZON"}]}"#;
        let r = AwsRanges::from_json(text).unwrap();
        let ev = |ip: &str| format!(r#"{{"eventName":"X","sourceIPAddress":"{ip}"}}"#);
        for (ip, want) in [
            ("3.5.141.9", true),
            ("3.5.143.255", true),
            ("3.5.144.0", false),
            ("2600:1f00::1", true),
            ("2600:1e00::1", false),
            ("::ffff:3.5.140.1", true),
            ("s3.amazonaws.com", true),
            ("EC2.AmazonAWS.com", true),
            ("amazonaws.com", false),
            ("evil-amazonaws.com.example", false),
            ("AWS Internal", true),
            ("203.0.113.1", false),
        ] {
            assert_eq!(r.is_aws(&Event::parse(&ev(ip)).unwrap()), want, "{ip}");
        }
        assert!(
            AwsRanges::from_json(r#"{"prefixes":[{"ip_prefix":"nope"}]}"#)
                .unwrap_err()
                .contains("prefixes[0]")
        );
        assert!(AwsRanges::from_json("{}").is_err());
    }
}
