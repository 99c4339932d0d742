//! Alert definitions (the JSON users write) and their compiled form.

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AlertError;
use crate::event::{Event, Outcome, RawFound, UserNames, lookup_all};
use crate::glob::{Glob, GlobList};
use crate::pattern::FilterPattern;

/// How risky an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Worth a look.
    Low,
    /// Review soon.
    Medium,
    /// Act today.
    High,
    /// Act now.
    Critical,
}

impl Risk {
    /// `low`, `medium`, `high` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Risk {
    type Err = String;

    /// Parses `low`, `medium`, `high` or `critical`, ignoring case and surrounding space.
    ///
    /// ```
    /// assert_eq!(" High".parse::<trailalerts::Risk>(), Ok(trailalerts::Risk::High));
    /// assert!("severe".parse::<trailalerts::Risk>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(format!("`{s}` is not low, medium, high or critical")),
        }
    }
}

impl std::fmt::Display for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which outcomes an alert fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseFilter {
    /// Any outcome (the default).
    #[default]
    All,
    /// Calls without an error.
    Success,
    /// Calls that failed for any reason (including authorization).
    Failure,
    /// Calls denied for lack of permission.
    Unauthorized,
}

impl ResponseFilter {
    fn accepts(self, o: Outcome) -> bool {
        match self {
            Self::All => true,
            Self::Success => o == Outcome::Success,
            Self::Failure => o != Outcome::Success,
            Self::Unauthorized => o == Outcome::Unauthorized,
        }
    }
}

/// A condition on a value inside `requestParameters` or `responseElements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    /// Dotted path, e.g. `ipPermissions.items.ipRanges.items.cidrIp`. A segment applied to an
    /// array applies to every element.
    pub path: String,
    /// `true` (the default): the path must be present and non-null; `false`: it must not be.
    #[serde(default = "yes")]
    pub present: bool,
    /// Optional glob the value must match (numbers and booleans as their JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

fn yes() -> bool {
    true
}

/// Source IP filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceIpFilter {
    /// The call must come from one of these CIDRs (non-IP sources never match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// The call must not come from any of these CIDRs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Drop calls made by AWS itself (service host names, `AWS Internal`, and AWS's published
    /// ranges when loaded with [`crate::EngineBuilder::aws_ip_ranges`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude_aws: bool,
}

/// Fire only on the `count`-th matching event within `window_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdDef {
    /// How many matching events fire the alert (at least 1).
    pub count: u32,
    /// The window, by event time, in seconds (at least 1).
    pub window_seconds: u64,
    /// Count separately per key: `user`, `region`, `source_ip`, `account`, `event`, `service`,
    /// or a dotted event path such as `requestParameters.bucketName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
}

/// A path/value pair in an ignore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathValue {
    /// Dotted path inside `requestParameters` / `responseElements`.
    pub path: String,
    /// Glob the value must match (`*` for "present").
    #[serde(default = "star")]
    pub value: String,
}

fn star() -> String {
    "*".to_owned()
}

/// An ignore: silences results whose event matches every field it sets.
///
/// ```
/// let ig: trailalerts::IgnoreDef = serde_json::from_str(
///     r#"{"id":"ci-bot","user":"ci-bot*","note":"deploy pipeline"}"#).unwrap();
/// assert_eq!(ig.user.as_deref(), Some("ci-bot*"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreDef {
    /// Stable id.
    pub id: String,
    /// The alert it belongs to; `None` for a global ignore. Filled in by storage when an ignore
    /// is kept outside its alert's definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// Region glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Service (eventSource) glob; `iam` means `iam.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Event name glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// User glob, matched against every user name of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Identity type glob (`userIdentity.type`: `AWSService`, `AssumedRole`, `Root`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
    /// A request parameter that must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameter: Option<PathValue>,
    /// A response element that must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_element: Option<PathValue>,
    /// Why it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was created (RFC 3339, set by the caller: the core never reads a clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// An alert definition, as written in JSON. See `docs/alert-reference.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertDef {
    /// Stable id (letters, digits, `-`, `_`, `.`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Risk level.
    pub risk: Risk,
    /// What it watches and what it deliberately skips.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// On/off switch (default on).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Region globs (`awsRegion`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Service globs (`eventSource`); a name without a dot gets `.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Event name globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// User globs, matched against every user name of the event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Which outcomes fire.
    #[serde(default, skip_serializing_if = "is_default_response")]
    pub response: ResponseFilter,
    /// Resource identifier globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Conditions on `requestParameters`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_parameters: Vec<FieldCondition>,
    /// Conditions on `responseElements`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_elements: Vec<FieldCondition>,
    /// Source IP filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ips: Option<SourceIpFilter>,
    /// CloudWatch Logs JSON filter pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Threshold to fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<ThresholdDef>,
    /// Keep results (default on). Off still notifies.
    #[serde(default = "yes")]
    pub save_results: bool,
    /// Notification channels (validated by the notifier adapters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Value>,
    /// Ignores of this alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignores: Vec<IgnoreDef>,
    /// References: CIS controls, MITRE ATT&CK techniques, documentation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// The alert this one was copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
}

/// Levenshtein distance, for "did you mean" hints on short field names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

fn is_default_response(r: &ResponseFilter) -> bool {
    *r == ResponseFilter::All
}

/// The fields a definition may have, for "unknown field" errors and `copy_of` merging.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "risk",
    "description",
    "enabled",
    "regions",
    "services",
    "events",
    "users",
    "response",
    "resources",
    "request_parameters",
    "response_elements",
    "source_ips",
    "pattern",
    "threshold",
    "save_results",
    "notifications",
    "ignores",
    "references",
    "copy_of",
];

impl AlertDef {
    /// Reads one definition from JSON. `copy_of` is resolved against `known` (built-ins and
    /// previously loaded alerts): the copy keeps every field of the original and overrides
    /// those it sets; without an `id` it becomes `<original>-copy`.
    ///
    /// ```
    /// use trailalerts::AlertDef;
    /// let v = serde_json::json!({"id": "a", "name": "A", "risk": "low", "events": ["CreateUser"]});
    /// let a = AlertDef::from_value(v, &[]).unwrap();
    /// let copy = AlertDef::from_value(serde_json::json!({"copy_of": "a", "risk": "high"}), &[a]).unwrap();
    /// assert_eq!((copy.id.as_str(), copy.risk.as_str(), copy.events.len()), ("a-copy", "high", 1));
    /// ```
    pub fn from_value(v: Value, known: &[AlertDef]) -> Result<Self, AlertError> {
        let Value::Object(mut obj) = v else {
            return Err(AlertError::new(
                "<unknown>",
                "",
                "an alert definition must be a JSON object",
            ));
        };
        let id_hint = obj
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("<unknown>")
            .to_owned();
        for k in obj.keys() {
            if !FIELDS.contains(&k.as_str()) {
                let norm = k.to_lowercase().replace(['_', '-'], "");
                let close = FIELDS
                    .iter()
                    .find(|f| f.replace('_', "") == norm)
                    .or_else(|| FIELDS.iter().find(|f| edit_distance(f, k) <= 2));
                let hint = close
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(AlertError::new(
                    id_hint,
                    k.clone(),
                    format!("unknown field{hint}"),
                ));
            }
        }
        if let Some(src) = obj.get("copy_of").cloned() {
            let Some(src) = src.as_str() else {
                return Err(AlertError::new(
                    id_hint,
                    "copy_of",
                    "must be the id of an alert",
                ));
            };
            let Some(orig) = known.iter().rev().find(|a| a.id == src) else {
                return Err(AlertError::new(
                    id_hint,
                    "copy_of",
                    format!("no alert with id `{src}` to copy"),
                ));
            };
            let Ok(Value::Object(mut base)) = serde_json::to_value(orig) else {
                return Err(AlertError::new(id_hint, "copy_of", "could not copy"));
            };
            if !obj.contains_key("id") {
                base.insert("id".into(), Value::String(format!("{}-copy", orig.id)));
            }
            if !obj.contains_key("name") {
                base.insert(
                    "name".into(),
                    Value::String(format!("{} (copy)", orig.name)),
                );
            }
            // The copy is complete on its own; `copy_of` is not kept (it would re-copy on load).
            base.remove("copy_of");
            for (k, v) in std::mem::take(&mut obj) {
                if k != "copy_of" {
                    base.insert(k, v);
                }
            }
            obj = base;
        }
        let id_hint = obj
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("<unknown>")
            .to_owned();
        for required in ["id", "name", "risk"] {
            if !obj.contains_key(required) {
                return Err(AlertError::new(
                    id_hint,
                    required,
                    "missing (every alert needs `id`, `name` and `risk`)",
                ));
            }
        }
        let def: AlertDef = serde_path_to_error::deserialize(Value::Object(obj)).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            AlertError::new(
                id_hint.clone(),
                if path == "." { String::new() } else { path },
                inner,
            )
        })?;
        Ok(def)
    }

    /// Parses a JSON document holding one definition or an array of them.
    pub fn parse_many(text: &str, known: &[AlertDef]) -> Result<Vec<AlertDef>, AlertError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| AlertError::new("<unknown>", "", format!("not valid JSON: {e}")))?;
        let items = match v {
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut all: Vec<AlertDef> = known.to_vec();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let def = AlertDef::from_value(item, &all)?;
            all.push(def.clone());
            out.push(def);
        }
        Ok(out)
    }
}

/// A compiled ignore.
#[derive(Debug, Clone)]
pub(crate) struct Ignore {
    pub(crate) def: IgnoreDef,
    region: Option<Glob>,
    service: Option<Glob>,
    event: Option<Glob>,
    user: Option<Glob>,
    identity_type: Option<Glob>,
    request: Option<(Vec<String>, Glob)>,
    response: Option<(Vec<String>, Glob)>,
}

fn service_glob(s: &str) -> String {
    if s.contains('.') {
        s.to_owned()
    } else {
        format!("{s}.amazonaws.com")
    }
}

fn split_path(p: &str) -> Vec<String> {
    p.trim_start_matches("$.")
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn scalar_texts<'v>(vals: &[&'v Value]) -> impl Iterator<Item = Cow<'v, str>> {
    vals.iter().filter_map(|v| match v {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    })
}

fn path_matches(root: Option<&Value>, path: &[String], glob: &Glob) -> bool {
    let Some(root) = root else { return false };
    let mut found = Vec::new();
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    lookup_all(root, &segs, &mut found);
    scalar_texts(&found).any(|t| glob.is_match(&t))
}

impl Ignore {
    pub(crate) fn compile(def: &IgnoreDef, owner: &str) -> Result<Self, AlertError> {
        let field = |name: &str| format!("ignores[{}].{name}", def.id);
        let g = |name: &str, v: &Option<String>, svc: bool| -> Result<Option<Glob>, AlertError> {
            v.as_ref()
                .map(|p| Glob::new(&if svc { service_glob(p) } else { p.clone() }))
                .transpose()
                .map_err(|e| AlertError::new(owner, field(name), e))
        };
        let pv = |name: &str,
                  v: &Option<PathValue>|
         -> Result<Option<(Vec<String>, Glob)>, AlertError> {
            v.as_ref()
                .map(|p| {
                    let path = split_path(&p.path);
                    if path.is_empty() {
                        return Err(AlertError::new(
                            owner,
                            field(name),
                            "`path` must not be empty",
                        ));
                    }
                    Glob::new(&p.value)
                        .map(|g| (path, g))
                        .map_err(|e| AlertError::new(owner, field(name), e))
                })
                .transpose()
        };
        if def.id.trim().is_empty() {
            return Err(AlertError::new(
                owner,
                "ignores[].id",
                "every ignore needs a non-empty `id`",
            ));
        }
        let ig = Self {
            def: def.clone(),
            region: g("region", &def.region, false)?,
            service: g("service", &def.service, true)?,
            event: g("event", &def.event, false)?,
            user: g("user", &def.user, false)?,
            identity_type: g("identity_type", &def.identity_type, false)?,
            request: pv("request_parameter", &def.request_parameter)?,
            response: pv("response_element", &def.response_element)?,
        };
        if ig.region.is_none()
            && ig.service.is_none()
            && ig.event.is_none()
            && ig.user.is_none()
            && ig.identity_type.is_none()
            && ig.request.is_none()
            && ig.response.is_none()
        {
            return Err(AlertError::new(
                owner,
                field("id"),
                "an ignore must set at least one of region, service, event, user, identity_type, request_parameter, response_element",
            ));
        }
        Ok(ig)
    }

    pub(crate) fn matches(&self, ev: &Event<'_>) -> bool {
        let one = |g: &Option<Glob>, v: Option<&str>| {
            g.as_ref().is_none_or(|g| v.is_some_and(|v| g.is_match(v)))
        };
        one(&self.region, ev.region())
            && one(&self.service, ev.event_source())
            && one(&self.event, ev.event_name())
            && self.user.as_ref().is_none_or(|g| {
                let names = ev.user_name_set();
                names
                    .as_slice()
                    .iter()
                    .any(|u| g.is_match_known(u, names.all_ascii()))
            })
            && one(
                &self.identity_type,
                ev.identity().and_then(|i| i.kind.as_deref()),
            )
            && self
                .request
                .as_ref()
                .is_none_or(|(p, g)| path_matches(ev.request_parameters(), p, g))
            && self
                .response
                .as_ref()
                .is_none_or(|(p, g)| path_matches(ev.response_elements(), p, g))
    }
}

#[derive(Debug, Clone)]
struct Condition {
    path: Vec<String>,
    present: bool,
    value: Option<Glob>,
    // Text every matching value contains (see `Needle`), for `present` conditions with a value.
    needle: Option<Needle>,
}

impl Condition {
    /// Whether the raw text of the subtree (`requestParameters` or `responseElements`) already
    /// shows this condition cannot hold, without building its JSON tree.
    fn ruled_out(&self, text: Option<&str>, plain: &Plain) -> bool {
        self.needle
            .as_ref()
            .is_some_and(|n| text.is_none_or(|t| n.absent_from_text(t, plain)))
    }

    /// [`Self::check`] read from the subtree's raw text, without parsing it into a tree;
    /// `None` when the text holds what only the tree reads (an escaped key).
    fn check_raw(&self, text: Option<&str>) -> Option<bool> {
        let mut found = Vec::new();
        if let Some(t) = text {
            crate::event::lookup_raw(t, 0, &self.path, &mut found)?;
        }
        found.retain(|f| *f != RawFound::Null);
        // The texts `scalar_texts` gives for the same values in the tree.
        let texts = found.iter().filter_map(|f| match *f {
            RawFound::Str(token) => Some(match token.get(1..token.len() - 1) {
                Some(plain) if !plain.contains('\\') => Some(Cow::Borrowed(plain)),
                _ => serde_json::from_str::<String>(token).ok().map(Cow::Owned),
            }),
            RawFound::Num(n) => Some(
                serde_json::from_str::<serde_json::Number>(n)
                    .ok()
                    .map(|n| Cow::Owned(n.to_string())),
            ),
            RawFound::Bool(b) => Some(Some(Cow::Borrowed(if b { "true" } else { "false" }))),
            RawFound::Null | RawFound::Compound => None,
        });
        self.verdict(!found.is_empty(), texts)
    }

    fn check(&self, root: Option<&Value>) -> bool {
        let mut found = Vec::new();
        if let Some(root) = root {
            let segs: Vec<&str> = self.path.iter().map(String::as_str).collect();
            lookup_all(root, &segs, &mut found);
        }
        found.retain(|v| !v.is_null());
        self.verdict(!found.is_empty(), scalar_texts(&found).map(Some))
            .unwrap_or(false)
    }

    /// The condition on what its path found, nulls left out: whether anything was, and the
    /// scalars' texts (`None` for one that cannot be read, which makes the verdict `None`).
    fn verdict<'t>(
        &self,
        any: bool,
        texts: impl Iterator<Item = Option<Cow<'t, str>>>,
    ) -> Option<bool> {
        if !self.present {
            return Some(!any);
        }
        let Some(g) = &self.value else {
            return Some(any);
        };
        for t in texts {
            if g.is_match(&t?) {
                return Some(true);
            }
        }
        Some(false)
    }
}

/// Whether every one of `conds` holds for a parameter subtree: first ruled out from its raw
/// text where a literal is missing, then read from the text, and from its parsed tree only
/// where the text cannot tell.
fn conditions_hold<'v>(
    conds: &[Condition],
    text: Option<&str>,
    plain: &Plain,
    tree: impl Fn() -> Option<&'v Value>,
) -> bool {
    // Read from the raw text: building the tree cost ~16,000 instructions per event.
    !conds.iter().any(|c| c.ruled_out(text, plain))
        && conds
            .iter()
            .all(|c| c.check_raw(text).unwrap_or_else(|| c.check(tree())))
}

/// How a threshold groups events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupKey {
    User,
    Region,
    SourceIp,
    Account,
    Event,
    Service,
    Path(Vec<crate::event::Segment>),
}

/// Whether `lit` appears as itself in JSON text written without `\u` or `\/` escapes (which
/// the prefilter lets through): JSON escapes quotes, backslashes and control characters.
pub(crate) fn verbatim(lit: &str) -> bool {
    !lit.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

/// Rough cost of a needle set: how much of a typical log it lets through. Service host names
/// and region names appear in most events of a service or region; event names are selective.
pub(crate) fn needle_cost(v: &[String]) -> usize {
    v.iter()
        .map(|n| {
            let n = n.to_ascii_lowercase();
            // Service host names, regions and the common identity types appear in most
            // events of a service, a region or an account.
            if n.contains(".amazonaws.com")
                || n.contains("-east-")
                || n.contains("-west-")
                || ["iamuser", "assumedrole", "awsservice"].contains(&n.trim_matches('"'))
            {
                50
            } else {
                1
            }
        })
        .sum()
}

/// What the alerts checked against one event share, worked out on first use (the user
/// names are gathered once, not once per candidate alert).
#[derive(Debug, Default)]
pub(crate) struct Facts<'e> {
    names: std::cell::OnceCell<UserNames<'e>>,
    // The raw `requestParameters` / `responseElements` text in ASCII lowercase when it is
    // searchable (see `searchable`), else `None`: worked out once for every literal search of
    // every candidate alert in that text.
    request_plain: std::cell::OnceCell<Option<Vec<u8>>>,
    response_plain: std::cell::OnceCell<Option<Vec<u8>>>,
}

/// The text in ASCII lowercase, when it is searchable.
type Plain = std::cell::OnceCell<Option<Vec<u8>>>;

/// Whether every string of this JSON text appears in it verbatim up to ASCII case: no escape
/// sequences, and no character whose Unicode lowercase is ASCII (U+212A KELVIN SIGN lowercases
/// to `k`, U+0130 to `i` + a combining dot). Globs match case-insensitively after Unicode
/// lowercasing, so only in such text does "the literal is not in the text" prove "no value
/// matches".
fn searchable(text: &[u8]) -> bool {
    memchr::memchr(b'\\', text).is_none() && !folds_to_ascii(text)
}

/// Whether the text holds a character whose Unicode lowercase contains ASCII letters (never
/// for ASCII text, which is checked first).
pub(crate) fn folds_to_ascii(text: &[u8]) -> bool {
    !text.is_ascii()
        && ["\u{212a}", "\u{130}"]
            .iter()
            .any(|c| memchr::memmem::find(text, c.as_bytes()).is_some())
}

/// The longest literal run of a glob, which every value it matches contains, searched ASCII
/// case-insensitively in raw JSON text: when it does not occur in searchable text (see
/// [`searchable`]), no value there can match, and the condition fails without parsing.
#[derive(Debug, Clone)]
struct Needle {
    // Lowercase ASCII, at least 3 bytes, with the quotes a string value has around it where
    // the glob pins the value's start (or both ends): `bucket-1` then no longer finds
    // `"bucket-12"`.
    // Searched in the lowercased text: one precompiled SIMD search, where an ASCII
    // case-insensitive scan stopped at every occurrence of a byte in either case.
    lit: memchr::memmem::Finder<'static>,
}

impl Needle {
    /// `None` when the glob has no usable literal (under 3 bytes, non-ASCII) or when it could
    /// be the text of a number (numbers are compared by their canonical text, which need not
    /// appear in the raw event: `500` may be written `5e2`).
    fn new(glob: &Glob) -> Option<Self> {
        let l = glob.longest_literal();
        let numeric = |t: &str| {
            t.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
        };
        if l.len() < 3 || !l.is_ascii() || numeric(l) {
            return None;
        }
        let l = l.to_ascii_lowercase();
        // Values compared as text include `true` and `false`, which JSON does not quote.
        let may_be_bool = |t: &str| "true".starts_with(t) || "false".starts_with(t);
        let lit = if glob.is_literal() && !may_be_bool(&l) {
            format!("\"{l}\"")
        } else if glob.literal_prefix() == l && !may_be_bool(&l) {
            format!("\"{l}")
        } else {
            l
        };
        Some(Self {
            lit: memchr::memmem::Finder::new(lit.as_bytes()).into_owned(),
        })
    }

    /// True when `text` is searchable and does not contain the literal, ignoring ASCII case;
    /// the lowercase text is made once per text, in `plain` (several alerts search it).
    fn absent_from_text(&self, text: &str, plain: &Plain) -> bool {
        plain
            .get_or_init(|| {
                let t = text.as_bytes();
                searchable(t).then(|| t.to_ascii_lowercase())
            })
            .as_ref()
            .is_some_and(|lower| self.lit.find(lower).is_none())
    }
}

/// Which of [`CompiledAlert::filters_match`]'s filters an alert has, one bit each. The engine
/// keeps them in one dense list: a candidate with none passes without its (large) alert being
/// read, and one with some reads only the fields those filters use. With hundreds of alerts,
/// touching every candidate's emptiness checks cost more cache misses than the checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Checks(u8);

impl Checks {
    const USERS: u8 = 1;
    const IPS: u8 = 2;
    const RESOURCES: u8 = 4;
    const REQUEST: u8 = 8;
    const RESPONSE: u8 = 16;
    const PATTERN: u8 = 32;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// True when the alert has none of these filters.
    pub(crate) fn none(self) -> bool {
        self.0 == 0
    }
}

/// A compiled alert.
#[derive(Debug, Clone)]
pub(crate) struct CompiledAlert {
    pub(crate) def: AlertDef,
    regions: GlobList,
    pub(crate) services: GlobList,
    pub(crate) events: GlobList,
    // Set by the engine's index when it files this alert under the exact names of its
    // `events` list (every entry a literal): a candidate event's name then equals one of them
    // ignoring ASCII case, so an ASCII name needs no second check.
    pub(crate) events_by_name: bool,
    users: GlobList,
    resources: GlobList,
    // The lowercase literals of `resources` when every entry is one (looked up in a set).
    resource_literals: Option<Vec<String>>,
    // A literal run of every `resources` glob, when each has one: if none occurs in the texts
    // resource ids come from, no id can match (checked before the ids are collected).
    resource_needles: Option<Vec<Needle>>,
    request: Vec<Condition>,
    response: Vec<Condition>,
    include: Vec<IpNet>,
    exclude: Vec<IpNet>,
    pub(crate) pattern: Option<FilterPattern>,
    // The regions the pattern pins `$.awsRegion` to, if it does (see `pattern_region_allows`).
    pattern_regions: Option<Vec<String>>,
    pub(crate) ignores: Vec<Ignore>,
    pub(crate) group_by: Vec<GroupKey>,
    // `stable_id`'s state after this alert's id: its results' ids hash only the event id.
    pub(crate) id_hash: crate::result::IdHash,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn globs(
    id: &str,
    field: &str,
    list: &[String],
    map: impl Fn(&str) -> String,
) -> Result<GlobList, AlertError> {
    let mapped: Vec<String> = list.iter().map(|s| map(s)).collect();
    GlobList::new(&mapped).map_err(|(i, e)| AlertError::new(id, format!("{field}[{i}]"), e))
}

fn conditions(
    id: &str,
    field: &str,
    list: &[FieldCondition],
) -> Result<Vec<Condition>, AlertError> {
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let path = split_path(&c.path);
            if path.is_empty() {
                return Err(AlertError::new(
                    id,
                    format!("{field}[{i}].path"),
                    "must not be empty",
                ));
            }
            if !c.present && c.value.is_some() {
                return Err(AlertError::new(
                    id,
                    format!("{field}[{i}].value"),
                    "a value makes no sense with `present: false`",
                ));
            }
            let value = c
                .value
                .as_deref()
                .map(Glob::new)
                .transpose()
                .map_err(|e| AlertError::new(id, format!("{field}[{i}].value"), e))?;
            let needle = value.as_ref().and_then(Needle::new);
            Ok(Condition {
                path,
                present: c.present,
                value,
                needle,
            })
        })
        .collect()
}

fn cidrs(id: &str, field: &str, list: &[String]) -> Result<Vec<IpNet>, AlertError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    AlertError::new(
                        id,
                        format!("{field}[{i}]"),
                        format!("`{s}` is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32"),
                    )
                })
        })
        .collect()
}

fn group_key(id: &str, i: usize, s: &str) -> Result<GroupKey, AlertError> {
    Ok(match s {
        "user" => GroupKey::User,
        "region" => GroupKey::Region,
        "source_ip" => GroupKey::SourceIp,
        "account" => GroupKey::Account,
        "event" => GroupKey::Event,
        "service" => GroupKey::Service,
        other => {
            let path = split_path(other);
            let ok = !path.is_empty()
                && path.iter().all(|p| {
                    p.chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '@' | ':'))
                });
            if !ok {
                return Err(AlertError::new(
                    id,
                    format!("threshold.group_by[{i}]"),
                    format!(
                        "`{other}` is not user, region, source_ip, account, event, service or a dotted event path"
                    ),
                ));
            }
            GroupKey::Path(
                path.into_iter()
                    .map(|p| match p.parse::<usize>() {
                        Ok(n) => crate::event::Segment::Index(n),
                        Err(_) => crate::event::Segment::Key(p),
                    })
                    .collect(),
            )
        }
    })
}

impl CompiledAlert {
    pub(crate) fn compile(def: AlertDef) -> Result<Self, AlertError> {
        let id = def.id.clone();
        let id = id.as_str();
        if !valid_id(id) {
            return Err(AlertError::new(
                id,
                "id",
                "must be 1–128 characters of letters, digits, `-`, `_` or `.`",
            ));
        }
        if def.name.trim().is_empty() {
            return Err(AlertError::new(id, "name", "must not be empty"));
        }
        let same = |s: &str| s.to_owned();
        let pattern = def
            .pattern
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(FilterPattern::parse)
            .transpose()
            .map_err(|e| AlertError::new(id, "pattern", e.to_string()))?;
        let ips = def.source_ips.clone().unwrap_or_default();
        let mut group_by = Vec::new();
        if let Some(t) = &def.threshold {
            if t.count == 0 {
                return Err(AlertError::new(id, "threshold.count", "must be at least 1"));
            }
            if t.window_seconds == 0 {
                return Err(AlertError::new(
                    id,
                    "threshold.window_seconds",
                    "must be at least 1",
                ));
            }
            if t.window_seconds > 366 * 86_400 {
                return Err(AlertError::new(
                    id,
                    "threshold.window_seconds",
                    "must be at most one year",
                ));
            }
            for (i, g) in t.group_by.iter().enumerate() {
                group_by.push(group_key(id, i, g)?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut ignores = Vec::with_capacity(def.ignores.len());
        for ig in &def.ignores {
            if !seen.insert(ig.id.as_str()) {
                return Err(AlertError::new(
                    id,
                    format!("ignores[{}].id", ig.id),
                    "duplicate ignore id",
                ));
            }
            ignores.push(Ignore::compile(ig, id)?);
        }
        for (i, n) in def.notifications.iter().enumerate() {
            if !n.get("type").is_some_and(Value::is_string) {
                return Err(AlertError::new(
                    id,
                    format!("notifications[{i}].type"),
                    "every notification needs a `type` such as `slack`",
                ));
            }
            crate::notify::ChannelConfig::parse(n)
                .map_err(|e| AlertError::new(id, format!("notifications[{i}]"), e))?;
        }
        let resources = globs(id, "resources", &def.resources, same)?;
        Ok(Self {
            regions: globs(id, "regions", &def.regions, same)?,
            services: globs(id, "services", &def.services, service_glob)?,
            events: globs(id, "events", &def.events, same)?,
            events_by_name: false,
            users: globs(id, "users", &def.users, same)?,
            resource_literals: resources.literals(),
            resource_needles: resources.globs().iter().map(Needle::new).collect(),
            resources,
            request: conditions(id, "request_parameters", &def.request_parameters)?,
            response: conditions(id, "response_elements", &def.response_elements)?,
            include: cidrs(id, "source_ips.include", &ips.include)?,
            exclude: cidrs(id, "source_ips.exclude", &ips.exclude)?,
            pattern_regions: pattern.as_ref().and_then(FilterPattern::regions),
            pattern,
            ignores,
            group_by,
            id_hash: crate::result::IdHash::default().push(&def.id),
            def,
        })
    }

    /// The ranges its `source_ips` include (empty when it has none).
    pub(crate) fn source_includes(&self) -> &[IpNet] {
        &self.include
    }

    /// The regions this alert is limited to, lowercase, when its `regions` list (or else its
    /// pattern) names them literally; `None` when any region may match.
    pub(crate) fn region_literals(&self) -> Option<Vec<String>> {
        if self.regions.is_empty() {
            let names = self.pattern_regions.as_ref()?;
            return Some(names.iter().map(|n| n.to_lowercase()).collect());
        }
        self.regions.literals()
    }

    /// Literal strings one of which the raw text of every event this alert matches contains,
    /// each with whether it matches ASCII case-insensitively (glob-derived) or exactly
    /// (pattern-derived, key names); `None` when no filter pins one. Each filter is a necessary
    /// condition, so any one filter's set will do; the cheapest is kept.
    pub(crate) fn needles(&self) -> Option<Vec<(String, bool)>> {
        let d = &self.def;
        let from_globs = |list: &GlobList, quoted: bool| -> Option<Vec<(String, bool)>> {
            if list.is_empty() {
                return None;
            }
            list.globs()
                .iter()
                .map(|g| {
                    if !quoted {
                        // Names and identifiers: the run that best singles them out.
                        let l = g.telling_literal();
                        return (l.is_ascii() && l.len() >= 3 && verbatim(&l)).then_some((l, true));
                    }
                    // Quote-anchored prefix when there is one, else the longest literal run.
                    let p = g.literal_prefix();
                    if p.is_ascii() && p.len() >= 3 && verbatim(p) {
                        let mut n = format!("\"{p}");
                        if g.is_literal() {
                            n.push('"');
                        }
                        return Some((n, true));
                    }
                    let l = g.longest_literal();
                    (l.is_ascii() && l.len() >= 4 && verbatim(l)).then(|| (l.to_owned(), true))
                })
                .collect()
        };
        let exact = |v: Vec<&str>| {
            v.into_iter()
                .map(|n| (n.to_owned(), false))
                .collect::<Vec<_>>()
        };
        let mut options: Vec<Vec<(String, bool)>> = Vec::new();
        options.extend(from_globs(&self.events, true));
        options.extend(from_globs(&self.services, true));
        options.extend(from_globs(&self.regions, true));
        options.extend(from_globs(&self.users, false));
        options.extend(from_globs(&self.resources, false));
        for v in self
            .pattern
            .as_ref()
            .map(FilterPattern::required_literal_sets)
            .unwrap_or_default()
        {
            if v.iter().all(|n| n.is_ascii() && n.len() >= 3) {
                options.push(v.into_iter().map(|n| (n, false)).collect());
            }
        }
        match d.response {
            ResponseFilter::Unauthorized => options.push(exact(vec!["\"errorCode\""])),
            ResponseFilter::Failure => options.push(exact(vec!["\"errorCode\"", "\"Failure\""])),
            _ => {}
        }
        for c in self
            .request
            .iter()
            .chain(&self.response)
            .filter(|c| c.present)
        {
            if let Some(k) = c
                .path
                .iter()
                .rev()
                .find(|k| k.as_str() != "*" && k.parse::<usize>().is_err())
                && k.len() >= 3
                && k.is_ascii()
                && verbatim(k)
            {
                options.push(vec![(format!("\"{k}\""), false)]);
            }
            // A value condition's literal (the one its own raw-text check looks for).
            if c.needle.is_some()
                && let Some(g) = &c.value
                && verbatim(g.longest_literal())
            {
                options.push(vec![(g.longest_literal().to_owned(), true)]);
            }
        }
        options
            .into_iter()
            .min_by_key(|v| needle_cost(&v.iter().map(|n| n.0.clone()).collect::<Vec<_>>()))
    }

    /// Whether no identifier inside the two parameter objects can match, shown without
    /// collecting them: no literal of the `resources` globs occurs in their raw text.
    fn resources_absent_from_texts(&self, ev: &Event<'_>, facts: &Facts<'_>) -> bool {
        let Some(needles) = &self.resource_needles else {
            return false;
        };
        [
            (ev.request_parameters_text(), &facts.request_plain),
            (ev.response_elements_text(), &facts.response_plain),
        ]
        .into_iter()
        .all(|(t, plain)| t.is_none_or(|t| needles.iter().all(|n| n.absent_from_text(t, plain))))
    }

    /// Whether the filters that read only the event's name and service pass for `ev`, a
    /// candidate the engine's index found (see `events_by_name`). The engine checks these once
    /// per distinct (name, service), and [`Self::place_filters_match`] once per region and
    /// outcome met with them, and remembers the alerts that pass: an event meets only those.
    /// [`Self::filters_match`] checks the rest.
    pub(crate) fn call_filters_match(&self, ev: &Event<'_>) -> bool {
        let events_known = self.events_by_name && ev.event_name().is_some_and(str::is_ascii);
        self.services.matches_opt(ev.event_source())
            && (events_known || self.events.matches_opt(ev.event_name()))
    }

    /// Whether the filters on the region and the outcome pass; `outcome` is `None` only when
    /// [`Self::reads_outcome`] is false.
    pub(crate) fn place_filters_match(
        &self,
        region: Option<&str>,
        outcome: Option<Outcome>,
    ) -> bool {
        self.regions.matches_opt(region)
            && self.pattern_region_allows(region)
            && (self.def.response == ResponseFilter::All
                || outcome.is_some_and(|o| self.def.response.accepts(o)))
    }

    /// Whether [`Self::place_filters_match`] reads the region.
    pub(crate) fn reads_region(&self) -> bool {
        !self.regions.is_empty() || self.pattern_regions.is_some()
    }

    /// Whether [`Self::place_filters_match`] reads the outcome.
    pub(crate) fn reads_outcome(&self) -> bool {
        self.def.response != ResponseFilter::All
    }

    /// False only when the pattern pins the region (`$.awsRegion = "…"`, an exact comparison)
    /// to values `region` is not. The pattern still checks it; this lets the engine leave the
    /// alert out of the region's candidates.
    fn pattern_region_allows(&self, region: Option<&str>) -> bool {
        self.pattern_regions
            .as_ref()
            .is_none_or(|names| region.is_some_and(|r| names.iter().any(|n| n == r)))
    }

    /// Which of the filters [`Self::filters_match`] checks this alert has.
    pub(crate) fn checks(&self) -> Checks {
        let bit = |on: bool, b: u8| if on { b } else { 0 };
        Checks(
            bit(!self.users.is_empty(), Checks::USERS)
                | bit(self.def.source_ips.is_some(), Checks::IPS)
                | bit(!self.resources.is_empty(), Checks::RESOURCES)
                | bit(!self.request.is_empty(), Checks::REQUEST)
                | bit(!self.response.is_empty(), Checks::RESPONSE)
                | bit(self.pattern.is_some(), Checks::PATTERN),
        )
    }

    /// Whether every filter but those of [`Self::call_filters_match`] and
    /// [`Self::place_filters_match`] passes for `ev`; `checks` is [`Self::checks`].
    pub(crate) fn filters_match<'e>(
        &self,
        checks: Checks,
        ev: &'e Event<'_>,
        aws: &crate::engine::AwsRanges,
        facts: &Facts<'e>,
    ) -> bool {
        debug_assert_eq!(checks, self.checks());
        if checks.has(Checks::USERS) {
            let names = facts.names.get_or_init(|| ev.user_name_set());
            if !self.users.matches_any(names.as_slice(), names.all_ascii()) {
                return false;
            }
        }
        if checks.has(Checks::IPS)
            && let Some(ips) = &self.def.source_ips
        {
            let addr = ev.source_ip_addr();
            if !self.include.is_empty()
                && !addr.is_some_and(|a| self.include.iter().any(|n| n.contains(&a)))
            {
                return false;
            }
            if addr.is_some_and(|a| self.exclude.iter().any(|n| n.contains(&a))) {
                return false;
            }
            if ips.exclude_aws && aws.is_aws(ev) {
                return false;
            }
        }
        // `resources[].ARN` values are whole identifiers, matched as they are; the strings
        // inside the parameter objects are collected only when the raw text may hold a match.
        if checks.has(Checks::RESOURCES) && !ev.resource_arns().any(|a| self.resources.matches(a)) {
            if self.resources_absent_from_texts(ev, facts) {
                return false;
            }
            let hit = match &self.resource_literals {
                Some(lits) => {
                    let set = ev.resource_id_set();
                    lits.iter().any(|l| set.contains(l.as_str()))
                }
                None => ev.any_resource_id(|r| self.resources.matches(r)),
            };
            if !hit {
                return false;
            }
        }
        if checks.has(Checks::REQUEST)
            && !conditions_hold(
                &self.request,
                ev.request_parameters_text(),
                &facts.request_plain,
                || ev.request_parameters(),
            )
        {
            return false;
        }
        if checks.has(Checks::RESPONSE)
            && !conditions_hold(
                &self.response,
                ev.response_elements_text(),
                &facts.response_plain,
                || ev.response_elements(),
            )
        {
            return false;
        }
        !checks.has(Checks::PATTERN) || self.pattern.as_ref().is_none_or(|p| p.matches(ev))
    }
}
