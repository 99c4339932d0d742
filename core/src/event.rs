//! The CloudTrail event: a borrowed, typed view of the fields the engine reads, plus the raw
//! JSON text for results. Nested objects that rules rarely inspect (`requestParameters`,
//! `responseElements`, `additionalEventData`) stay raw until a rule looks inside; then they are
//! parsed once per event and cached.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::time::parse_event_time;

mod fast;
pub(crate) use fast::{RawFound, lookup_raw};

type S<'a> = Option<Cow<'a, str>>;

/// Reads an optional nested value as its raw JSON text (checked as JSON, not parsed).
fn opt_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de str>, D::Error> {
    Ok(<Option<&'de RawValue>>::deserialize(d)?.map(RawValue::get))
}

/// Reads an optional string field, borrowing it from the text unless it has escapes.
///
/// serde borrows a `Cow<str>` field only when the field's type is exactly `Cow`: inside an
/// `Option` it always copies, which cost an allocation per field per event.
fn opt_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<S<'de>, D::Error> {
    struct Opt;
    struct Str;
    impl<'de> serde::de::Visitor<'de> for Str {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
    impl<'de> serde::de::Visitor<'de> for Opt {
        type Value = S<'de>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Str).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields<'a> {
    #[serde(borrow, default, deserialize_with = "opt_str", rename = "eventID")]
    event_id: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    event_time: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str", rename = "@timestamp")]
    at_timestamp: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    event_source: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    event_name: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    aws_region: S<'a>,
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_str",
        rename = "sourceIPAddress"
    )]
    source_ip_address: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    error_code: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    error_message: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    event_type: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    recipient_account_id: S<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    user_agent: S<'a>,
    #[serde(borrow)]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, default, deserialize_with = "opt_raw")]
    request_parameters: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "opt_raw")]
    response_elements: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "opt_raw")]
    additional_event_data: Option<&'a str>,
    #[serde(borrow)]
    resources: Option<Vec<Resource<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
struct Resource<'a> {
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_str",
        rename = "ARN",
        alias = "arn"
    )]
    arn: S<'a>,
}

/// `userIdentity` of a CloudTrail event (the fields the engine reads).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    /// `type`: `Root`, `IAMUser`, `AssumedRole`, `FederatedUser`, `AWSService`, `AWSAccount`…
    #[serde(borrow, default, deserialize_with = "opt_str", rename = "type")]
    pub kind: S<'a>,
    /// `principalId`.
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub principal_id: S<'a>,
    /// `arn`.
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub arn: S<'a>,
    /// `accountId`.
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub account_id: S<'a>,
    /// `userName` (IAM users, root, SAML/web-identity users).
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub user_name: S<'a>,
    /// `invokedBy`: the AWS service that made the call on the principal's behalf.
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub invoked_by: S<'a>,
    /// `sessionContext`.
    #[serde(borrow)]
    pub session_context: Option<SessionContext<'a>>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    /// `sessionIssuer`: the role or user whose credentials were used.
    #[serde(borrow)]
    pub session_issuer: Option<SessionIssuer<'a>>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    /// `type`, e.g. `Role`.
    #[serde(borrow, default, deserialize_with = "opt_str", rename = "type")]
    pub kind: S<'a>,
    /// `userName`: the role name for roles.
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub user_name: S<'a>,
    /// `arn` of the role or user.
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub arn: S<'a>,
    /// `accountId`.
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub account_id: S<'a>,
}

/// How a call ended, derived from `errorCode` and the console sign-in response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No error.
    Success,
    /// An error other than an authorization failure, or a failed console sign-in.
    Failure,
    /// `errorCode` matches `*UnauthorizedOperation` or `AccessDenied*`.
    Unauthorized,
}

/// A segment of a field path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `.name`
    Key(String),
    /// `[3]`
    Index(usize),
}

/// A value found at a path: borrowed from the typed fields or from a lazily parsed tree.
#[derive(Debug, Clone, Copy)]
pub enum FieldRef<'v> {
    /// The path does not exist.
    Missing,
    /// A string.
    Str(&'v str),
    /// Any other JSON value (number, bool, null, object, array).
    Value(&'v Value),
}

/// One CloudTrail event, borrowed from the text it was parsed from.
///
/// ```
/// use trailalerts::{Event, Outcome};
/// let raw = r#"{"eventID":"1","eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com",
///   "eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9",
///   "errorCode":"AccessDenied","userIdentity":{"type":"IAMUser","userName":"alice",
///   "arn":"arn:aws:iam::111122223333:user/alice"}}"#;
/// let ev = Event::parse(raw).unwrap();
/// assert_eq!(ev.event_name(), Some("CreateUser"));
/// assert_eq!(ev.outcome(), Outcome::Unauthorized);
/// assert_eq!(ev.display_user(), "alice");
/// assert!(ev.user_names().contains(&"arn:aws:iam::111122223333:user/alice"));
/// ```
#[derive(Debug)]
pub struct Event<'a> {
    raw: &'a str,
    // The raw event shared by every result of this event (one copy, however many alerts fire).
    shared: OnceCell<Arc<RawValue>>,
    f: Fields<'a>,
    time_ms: Option<i64>,
    whole: OnceCell<Option<Value>>,
    request: OnceCell<Option<Value>>,
    response: OnceCell<Option<Value>>,
    additional: OnceCell<Option<Value>>,
    // Resource ids collected once per event: many alerts may filter on resources. Collected
    // from the raw text (borrowed unless escaped), without building a JSON tree.
    resource_ids: OnceCell<Vec<Cow<'a, str>>>,
    resource_set: OnceCell<std::collections::HashSet<Cow<'a, str>>>,
    // `sourceIPAddress` parsed once (every source-IP filter of every candidate alert reads it).
    addr: OnceCell<Option<IpAddr>>,
}

/// The names `users` globs are matched against (at most seven, see [`Event::user_names`]),
/// gathered once per event, with whether all are ASCII (the globs' fast path).
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserNames<'e> {
    names: [&'e str; 7],
    len: usize,
    ascii: bool,
}

impl<'e> UserNames<'e> {
    fn push(&mut self, name: Option<&'e str>) {
        if let Some(n) = name
            && let Some(slot) = self.names.get_mut(self.len)
        {
            *slot = n;
            self.len += 1;
            self.ascii &= n.is_ascii();
        }
    }
    /// The names.
    pub(crate) fn as_slice(&self) -> &[&'e str] {
        self.names.get(..self.len).unwrap_or_default()
    }
    /// Whether every name is ASCII.
    pub(crate) fn all_ascii(&self) -> bool {
        self.ascii
    }
}

/// Strings longer than this are not resource identifiers (AWS ARNs are at most 2048
/// characters); skipping them keeps huge parameter values out of resource matching.
const MAX_RESOURCE_ID: usize = 2048;

/// Collects the string values of a JSON value (not its keys), borrowing from the text when a
/// string has no escapes. Strings longer than [`MAX_RESOURCE_ID`] are skipped.
struct Strings<'v, 'a>(&'v mut Vec<Cow<'a, str>>);

impl<'de> serde::de::DeserializeSeed<'de> for Strings<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strings<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        if v.len() <= MAX_RESOURCE_ID {
            self.0.push(Cow::Borrowed(v));
        }
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if v.len() <= MAX_RESOURCE_ID {
            self.0.push(Cow::Owned(v.to_owned()));
        }
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Strings(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            map.next_value_seed(Strings(&mut *self.0))?;
        }
        Ok(())
    }
}

/// serde_json's `RawValue` marker (serde_json/src/raw.rs, `TOKEN`).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// `text` as a borrowed `RawValue`, without checking it: `RawValue` deserializes from a map
/// whose one key is serde_json's marker and whose value is the raw text, which is what
/// serde_json's own deserializer hands it. `None` if that ever stops being the case.
fn marked_raw_value(text: &str) -> Option<&RawValue> {
    use serde::de::value::{BorrowedStrDeserializer, MapDeserializer};
    let entry = (
        RAW_VALUE_TOKEN,
        BorrowedStrDeserializer::<serde_json::Error>::new(text),
    );
    let marked = MapDeserializer::<_, serde_json::Error>::new(std::iter::once(entry));
    let raw = <&RawValue as serde::Deserialize>::deserialize(marked).ok()?;
    // The text itself, not a copy or a rendering of it.
    std::ptr::eq(raw.get(), text).then_some(raw)
}

/// A `RawValue` of text serde_json has already accepted as one JSON value (an event that
/// parsed), without checking it all again: re-checking cost ~10 % of a scan with few alerts,
/// where most parsed events fire.
///
/// serde_json has no unchecked constructor, but its `RawValue` deserializes from serde_json's
/// private marker without checking (see [`marked_raw_value`]); that gives one exact copy of
/// the text. Should a future serde_json change the marker, the checked path is taken. A test
/// asserts the unchecked path is the one taken.
fn accepted_raw_value(text: &str) -> Box<RawValue> {
    let text = text.trim_matches([' ', '\t', '\n', '\r']);
    match marked_raw_value(text) {
        Some(v) => v.to_owned(),
        None => RawValue::from_string(text.to_owned()).unwrap_or_default(),
    }
}

fn parse_raw(raw: Option<&str>) -> Option<Value> {
    raw.and_then(|r| serde_json::from_str(r).ok())
}

/// `sourceIPAddress` text as an address, as [`Event::source_ip_addr`] reads it.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    // A zone (`%eth0`) is not part of the address.
    let s = memchr::memchr(b'%', s.as_bytes()).map_or(s, |i| s.get(..i).unwrap_or(s));
    // Only IPv6 has colons: parsing just the family it can be skips a failing IPv6 parse of
    // every service name (`ec2.amazonaws.com`) and IPv4 address.
    if memchr::memchr(b':', s.as_bytes()).is_some() {
        s.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        s.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    }
}

impl<'a> Event<'a> {
    /// Parses one event from its JSON text. The error text names the problem (and, for wrong
    /// types, the field); callers add the record's position.
    pub fn parse(raw: &'a str) -> Result<Self, String> {
        if let Some(f) = fast::fields_whole(raw).filter(|f| f.event_name.is_some()) {
            return Ok(Self::from_fields(raw, f));
        }
        Self::parse_serde(raw)
    }

    /// Parses a record the reader delimited as one JSON value (what [`Records`]'s iterator
    /// yields); the same as [`Event::parse`] of its text.
    ///
    /// [`Records`]: crate::Records
    pub fn from_raw_value(raw: &'a RawValue) -> Result<Self, String> {
        Self::parse(raw.get())
    }

    /// Parses the text of [`Event::shared_raw`] again, sharing it (results built from the
    /// event use this copy instead of making another).
    pub(crate) fn parse_shared(raw: &'a Arc<RawValue>) -> Result<Self, String> {
        let ev = Self::parse(raw.get())?;
        // Just created, so empty: `set` cannot fail.
        let _ = ev.shared.set(Arc::clone(raw));
        Ok(ev)
    }

    /// The serde path: every event the direct reader gives up on, and every error's wording.
    fn parse_serde(raw: &'a str) -> Result<Self, String> {
        let trimmed = raw.trim_start();
        if !trimmed.starts_with('{') {
            return Err("expected a JSON object for a CloudTrail event".to_owned());
        }
        let f: Fields<'a> = match serde_json::from_str(raw) {
            Ok(f) => f,
            // Only on failure: parse again tracking the path, to name the offending field.
            Err(e) => {
                let mut de = serde_json::Deserializer::from_str(raw);
                let field = match serde_path_to_error::deserialize::<_, Fields<'_>>(&mut de) {
                    Err(pe) if pe.path().to_string() != "." => format!("field `{}`: ", pe.path()),
                    _ => String::new(),
                };
                return Err(format!("{field}{}", describe_json_error(&e)));
            }
        };
        if f.event_name.is_none() {
            return Err("missing field `eventName`".to_owned());
        }
        Ok(Self::from_fields(raw, f))
    }

    /// Parses the event object at the start of `text` in one pass and returns it with the byte
    /// length of its text; `None` when `text` does not start with a valid event (the caller
    /// then takes the checked path, which names the problem).
    ///
    /// One pass over the text instead of two (delimit as a JSON value, then parse): both field
    /// readers check every value they skip, so a successful parse has also proved the whole
    /// object valid JSON.
    pub(crate) fn parse_prefix(text: &'a str) -> Option<(Self, usize)> {
        if !text.starts_with('{') {
            return None;
        }
        if let Some((f, end)) = fast::fields_at(text, 0).filter(|(f, _)| f.event_name.is_some()) {
            return Some((Self::from_fields(text.get(..end)?, f), end));
        }
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Fields<'a>>();
        let f = stream.next()?.ok()?;
        let end = stream.byte_offset();
        // Without `eventName` it is not an event; the checked path says so.
        f.event_name.as_ref()?;
        let raw = text.get(..end)?;
        Some((Self::from_fields(raw, f), end))
    }

    fn from_fields(raw: &'a str, f: Fields<'a>) -> Self {
        let time_ms = f
            .event_time
            .as_deref()
            .or(f.at_timestamp.as_deref())
            .and_then(parse_event_time);
        Self {
            raw,
            shared: OnceCell::new(),
            f,
            time_ms,
            whole: OnceCell::new(),
            request: OnceCell::new(),
            response: OnceCell::new(),
            additional: OnceCell::new(),
            resource_ids: OnceCell::new(),
            resource_set: OnceCell::new(),
            addr: OnceCell::new(),
        }
    }

    /// Checks that the direct field reader and serde_json's derived parse agree on `raw`:
    /// when the direct reader accepts it, serde must accept it with the same fields. An `Err`
    /// describes a disagreement. For tests and fuzzing.
    #[doc(hidden)]
    pub fn check_field_readers_agree(raw: &str) -> Result<(), String> {
        let Some(fast) = fast::fields_whole(raw) else {
            return Ok(());
        };
        match serde_json::from_str::<Fields<'_>>(raw) {
            Ok(f) if format!("{f:?}") == format!("{fast:?}") => Ok(()),
            Ok(f) => Err(format!("direct {fast:?}\nserde  {f:?}")),
            Err(e) => Err(format!("direct reader accepted what serde rejects: {e}")),
        }
    }

    /// The event's JSON text, exactly as read.
    pub fn raw(&self) -> &'a str {
        self.raw
    }
    /// The raw event as a shared JSON value, copied once per event on first use.
    pub fn shared_raw(&self) -> Arc<RawValue> {
        self.shared
            // The event parsed, so its text is one valid JSON value.
            .get_or_init(|| Arc::from(accepted_raw_value(self.raw)))
            .clone()
    }

    /// The id results and processed-event records use: `eventID`, or a hash of the raw text
    /// when the event has none (so redelivered copies still match).
    pub fn dedup_id(&self) -> String {
        crate::engine::event_id_of(self)
    }

    /// `eventID`.
    pub fn event_id(&self) -> Option<&str> {
        self.f.event_id.as_deref()
    }
    /// `eventTime` as written (or `@timestamp` for events exported by log shippers).
    pub fn event_time(&self) -> Option<&str> {
        self.f
            .event_time
            .as_deref()
            .or(self.f.at_timestamp.as_deref())
    }
    /// The event time in milliseconds since the epoch, when it could be parsed.
    pub fn time_ms(&self) -> Option<i64> {
        self.time_ms
    }
    /// `eventSource`, e.g. `iam.amazonaws.com`.
    pub fn event_source(&self) -> Option<&str> {
        self.f.event_source.as_deref()
    }
    /// `eventName`, e.g. `CreateUser`.
    pub fn event_name(&self) -> Option<&str> {
        self.f.event_name.as_deref()
    }
    /// `awsRegion`.
    pub fn region(&self) -> Option<&str> {
        self.f.aws_region.as_deref()
    }
    /// `sourceIPAddress` as written (an IP address, a service host name or `AWS Internal`).
    pub fn source_ip(&self) -> Option<&str> {
        self.f.source_ip_address.as_deref()
    }
    /// `errorCode`.
    pub fn error_code(&self) -> Option<&str> {
        self.f.error_code.as_deref().filter(|s| !s.is_empty())
    }
    /// `errorMessage`.
    pub fn error_message(&self) -> Option<&str> {
        self.f.error_message.as_deref()
    }
    /// `eventType`, e.g. `AwsApiCall`, `AwsConsoleSignIn`, `AwsServiceEvent`.
    pub fn event_type(&self) -> Option<&str> {
        self.f.event_type.as_deref()
    }
    /// `userAgent`.
    pub fn user_agent(&self) -> Option<&str> {
        self.f.user_agent.as_deref()
    }
    /// The account: `recipientAccountId`, else `userIdentity.accountId`.
    pub fn account_id(&self) -> Option<&str> {
        self.f.recipient_account_id.as_deref().or_else(|| {
            self.f
                .user_identity
                .as_ref()
                .and_then(|u| u.account_id.as_deref())
        })
    }
    /// `userIdentity`, when present.
    pub fn identity(&self) -> Option<&UserIdentity<'a>> {
        self.f.user_identity.as_ref()
    }

    fn issuer(&self) -> Option<&SessionIssuer<'a>> {
        self.identity()?
            .session_context
            .as_ref()?
            .session_issuer
            .as_ref()
    }

    /// The session name of an assumed role (last part of an `assumed-role` ARN).
    pub fn session_name(&self) -> Option<&str> {
        let arn = self.identity()?.arn.as_deref()?;
        // One precompiled SIMD search for the mark: a byte loop over the ARN mispredicted a
        // branch at every colon, and a search restarted at each colon cost more.
        static MARK: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b":assumed-role/"));
        let b = arn.as_bytes();
        let role = MARK.find(b)? + MARK.needle().len();
        let slash = b.get(role..)?.iter().position(|&c| c == b'/')?;
        arn.get(role + slash + 1..)
    }

    /// Every name a `users` glob is matched against: `userName`, `arn`, role name and role ARN
    /// (`sessionContext.sessionIssuer`), the assumed-role session name, `root` for `Root`
    /// identities and `invokedBy` for calls made by AWS services.
    pub fn user_names(&self) -> Vec<&str> {
        self.user_names_iter().collect()
    }

    /// [`Event::user_names`] without allocating.
    pub fn user_names_iter(&self) -> impl Iterator<Item = &str> {
        let set = self.user_name_set();
        (0..set.len).filter_map(move |i| set.names.get(i).copied())
    }

    /// [`Event::user_names`] as a set on the stack, with whether all are ASCII: what `users`
    /// filters and ignores check (the engine gathers it once per event).
    pub(crate) fn user_name_set(&self) -> UserNames<'_> {
        let mut names = UserNames {
            names: [""; 7],
            len: 0,
            ascii: true,
        };
        // Gathered field by field: a chain of seven iterators cost twice as much, and with
        // many alerts most events build this set.
        let Some(id) = self.identity() else {
            return names;
        };
        names.push(id.user_name.as_deref());
        names.push(id.arn.as_deref());
        if let Some(iss) = self.issuer() {
            names.push(iss.user_name.as_deref());
            names.push(iss.arn.as_deref());
        }
        names.push(self.session_name());
        if id.kind.as_deref() == Some("Root") {
            names.push(Some("root"));
        }
        names.push(id.invoked_by.as_deref());
        names
    }

    /// The most readable name of the caller: the IAM user name, `role/session` for assumed
    /// roles, `root`, the service for AWS services, else the ARN or principal id.
    pub fn display_user(&self) -> Cow<'_, str> {
        let Some(id) = self.identity() else {
            return Cow::Borrowed("unknown");
        };
        match id.kind.as_deref() {
            Some("Root") => return Cow::Borrowed("root"),
            Some("AWSService") => {
                if let Some(s) = id.invoked_by.as_deref() {
                    return Cow::Borrowed(s);
                }
            }
            Some("AssumedRole") => {
                let role = self.issuer().and_then(|i| i.user_name.as_deref());
                match (role, self.session_name()) {
                    (Some(r), Some(s)) => {
                        // Built directly: `format!` costs several times as much here.
                        let mut u = String::with_capacity(r.len() + 1 + s.len());
                        u.push_str(r);
                        u.push('/');
                        u.push_str(s);
                        return Cow::Owned(u);
                    }
                    (Some(r), None) => return Cow::Borrowed(r),
                    _ => {}
                }
            }
            _ => {}
        }
        if let Some(n) = id.user_name.as_deref() {
            return Cow::Borrowed(n);
        }
        if let Some(a) = id.arn.as_deref() {
            return Cow::Borrowed(a);
        }
        if let Some(s) = id.invoked_by.as_deref() {
            return Cow::Borrowed(s);
        }
        Cow::Borrowed(
            id.principal_id
                .as_deref()
                .or(id.account_id.as_deref())
                .unwrap_or("unknown"),
        )
    }

    /// The derived response type (see [`Outcome`]).
    pub fn outcome(&self) -> Outcome {
        if let Some(code) = self.error_code() {
            if code.ends_with("UnauthorizedOperation") || code.starts_with("AccessDenied") {
                return Outcome::Unauthorized;
            }
            return Outcome::Failure;
        }
        if self.event_name() == Some("ConsoleLogin")
            && let Some(Value::String(s)) =
                self.response_elements().and_then(|v| v.get("ConsoleLogin"))
            && s == "Failure"
        {
            return Outcome::Failure;
        }
        Outcome::Success
    }

    /// `sourceIPAddress` as an IP address (IPv6 zone ids and brackets are stripped).
    pub fn source_ip_addr(&self) -> Option<IpAddr> {
        *self
            .addr
            .get_or_init(|| self.source_ip().and_then(parse_ip))
    }

    /// `requestParameters`, parsed on first use.
    pub fn request_parameters(&self) -> Option<&Value> {
        self.request
            .get_or_init(|| parse_raw(self.f.request_parameters))
            .as_ref()
    }
    /// `responseElements`, parsed on first use.
    pub fn response_elements(&self) -> Option<&Value> {
        self.response
            .get_or_init(|| parse_raw(self.f.response_elements))
            .as_ref()
    }
    /// The raw JSON text of `requestParameters` (`null` included), unparsed.
    pub(crate) fn request_parameters_text(&self) -> Option<&'a str> {
        self.f.request_parameters
    }
    /// The raw JSON text of `responseElements`, unparsed.
    pub(crate) fn response_elements_text(&self) -> Option<&'a str> {
        self.f.response_elements
    }
    /// `additionalEventData`, parsed on first use.
    pub fn additional_event_data(&self) -> Option<&Value> {
        self.additional
            .get_or_init(|| parse_raw(self.f.additional_event_data))
            .as_ref()
    }
    /// The whole event as a JSON tree, parsed on first use.
    pub fn tree(&self) -> Option<&Value> {
        self.whole
            .get_or_init(|| serde_json::from_str(self.raw).ok())
            .as_ref()
    }

    /// `resources[].ARN` values.
    pub fn resource_arns(&self) -> impl Iterator<Item = &str> {
        self.f
            .resources
            .iter()
            .flatten()
            .filter_map(|r| r.arn.as_deref())
    }

    /// Every resource identifier, lowercased (Unicode), as a set: alerts whose `resources` are
    /// all literals look theirs up instead of matching every identifier.
    pub fn resource_id_set(&self) -> &std::collections::HashSet<Cow<'a, str>> {
        self.resource_set.get_or_init(|| {
            let mut set = std::collections::HashSet::new();
            for r in self
                .resource_arns_raw()
                .chain(self.collected().iter().cloned())
            {
                let lower = if r.bytes().any(|b| b.is_ascii_uppercase()) || !r.is_ascii() {
                    Cow::Owned(r.to_lowercase())
                } else {
                    r
                };
                set.insert(lower);
            }
            set
        })
    }

    /// `resources[].ARN`, keeping the event text's lifetime.
    fn resource_arns_raw(&self) -> impl Iterator<Item = Cow<'a, str>> + '_ {
        self.f
            .resources
            .iter()
            .flatten()
            .filter_map(|r| r.arn.clone())
    }

    /// The string values of at most [`MAX_RESOURCE_ID`] bytes inside `requestParameters` and
    /// `responseElements` (see [`Event::resource_ids`]), collected once per event.
    fn collected(&self) -> &[Cow<'a, str>] {
        self.resource_ids.get_or_init(|| {
            let mut out = Vec::new();
            for raw in [self.f.request_parameters, self.f.response_elements]
                .into_iter()
                .flatten()
            {
                let before = out.len();
                let mut de = serde_json::Deserializer::from_str(raw);
                // Too deeply nested for the parser: like a subtree that cannot be parsed into a
                // tree, it contributes nothing.
                if serde::de::DeserializeSeed::deserialize(Strings(&mut out), &mut de).is_err() {
                    out.truncate(before);
                }
            }
            out
        })
    }

    /// Every resource identifier: each `resources[].ARN` and every string value of at most
    /// 2048 bytes (the longest ARN) found anywhere inside `requestParameters` and `responseElements`.
    pub fn resource_ids(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.any_resource_id(|s| {
            out.push(s);
            false
        });
        out
    }

    /// Whether `f` holds for any resource identifier (stops at the first).
    pub fn any_resource_id<'s>(&'s self, mut f: impl FnMut(&'s str) -> bool) -> bool {
        if self.resource_arns().any(&mut f) {
            return true;
        }
        self.collected().iter().any(|s| f(s))
    }

    /// Looks up a `$.a.b[0]` style path with CloudWatch Logs semantics: keys descend into
    /// objects, indexes into arrays; a key on an array finds nothing.
    pub fn lookup(&self, path: &[Segment]) -> FieldRef<'_> {
        let Some((Segment::Key(first), rest)) = path.split_first() else {
            return FieldRef::Missing;
        };
        if let Some(t) = Typed::of(path) {
            return self.typed(t);
        }
        fn sub<'v>(v: Option<&'v Value>, rest: &[Segment]) -> FieldRef<'v> {
            v.map_or(FieldRef::Missing, |v| descend(v, rest))
        }
        match first.as_str() {
            "requestParameters" if self.f.request_parameters.is_some() => {
                sub(self.request_parameters(), rest)
            }
            "responseElements" if self.f.response_elements.is_some() => {
                sub(self.response_elements(), rest)
            }
            "additionalEventData" if self.f.additional_event_data.is_some() => {
                sub(self.additional_event_data(), rest)
            }
            _ => match self.tree() {
                Some(t) => descend(t, path),
                None => FieldRef::Missing,
            },
        }
    }
}

/// A top-level string field the typed view holds, resolved from a `$.name` path once (when a
/// filter pattern compiles) instead of by name for every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Typed {
    EventName,
    EventSource,
    ErrorCode,
    ErrorMessage,
    AwsRegion,
    SourceIp,
    EventType,
    EventId,
    RecipientAccountId,
    /// `userIdentity.…`
    Identity(IdentityField),
    /// `userIdentity.sessionContext.sessionIssuer.…`
    Issuer(IdentityField),
}

/// A string field of `userIdentity` (or of its session issuer, which has the first four).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdentityField {
    Type,
    UserName,
    Arn,
    AccountId,
    PrincipalId,
    InvokedBy,
}

impl Typed {
    /// The typed field a one-segment path names, if any.
    pub(crate) fn of(path: &[Segment]) -> Option<Self> {
        let key = |i: usize| match path.get(i) {
            Some(Segment::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let field = |k: Option<&str>, issuer: bool| {
            Some(match k? {
                "type" => IdentityField::Type,
                "userName" => IdentityField::UserName,
                "arn" => IdentityField::Arn,
                "accountId" => IdentityField::AccountId,
                "principalId" if !issuer => IdentityField::PrincipalId,
                "invokedBy" if !issuer => IdentityField::InvokedBy,
                _ => return None,
            })
        };
        match (path.len(), key(0)) {
            (2, Some("userIdentity")) => return field(key(1), false).map(Self::Identity),
            (4, Some("userIdentity"))
                if key(1) == Some("sessionContext") && key(2) == Some("sessionIssuer") =>
            {
                return field(key(3), true).map(Self::Issuer);
            }
            _ => {}
        }
        let [Segment::Key(k)] = path else {
            return None;
        };
        Some(match k.as_str() {
            "eventName" => Self::EventName,
            "eventSource" => Self::EventSource,
            "errorCode" => Self::ErrorCode,
            "errorMessage" => Self::ErrorMessage,
            "awsRegion" => Self::AwsRegion,
            "sourceIPAddress" => Self::SourceIp,
            "eventType" => Self::EventType,
            "eventID" => Self::EventId,
            "recipientAccountId" => Self::RecipientAccountId,
            _ => return None,
        })
    }
}

impl Event<'_> {
    /// The value of a typed top-level field ([`Event::lookup`] of its one-segment path).
    pub(crate) fn typed(&self, t: Typed) -> FieldRef<'_> {
        let f = &self.f;
        let v = match t {
            Typed::EventName => &f.event_name,
            Typed::EventSource => &f.event_source,
            Typed::ErrorCode => &f.error_code,
            Typed::ErrorMessage => &f.error_message,
            Typed::AwsRegion => &f.aws_region,
            Typed::SourceIp => &f.source_ip_address,
            Typed::EventType => &f.event_type,
            Typed::EventId => &f.event_id,
            Typed::RecipientAccountId => &f.recipient_account_id,
            Typed::Identity(field) => {
                let Some(id) = self.identity() else {
                    return FieldRef::Missing;
                };
                match field {
                    IdentityField::Type => &id.kind,
                    IdentityField::UserName => &id.user_name,
                    IdentityField::Arn => &id.arn,
                    IdentityField::AccountId => &id.account_id,
                    IdentityField::PrincipalId => &id.principal_id,
                    IdentityField::InvokedBy => &id.invoked_by,
                }
            }
            Typed::Issuer(field) => {
                let Some(iss) = self.issuer() else {
                    return FieldRef::Missing;
                };
                match field {
                    IdentityField::Type => &iss.kind,
                    IdentityField::UserName => &iss.user_name,
                    IdentityField::Arn => &iss.arn,
                    IdentityField::AccountId => &iss.account_id,
                    IdentityField::PrincipalId | IdentityField::InvokedBy => {
                        return FieldRef::Missing;
                    }
                }
            }
        };
        v.as_deref().map_or(FieldRef::Missing, FieldRef::Str)
    }
}

fn descend<'v>(mut v: &'v Value, path: &[Segment]) -> FieldRef<'v> {
    for seg in path {
        let next = match (seg, v) {
            (Segment::Key(k), Value::Object(m)) => m.get(k),
            (Segment::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return FieldRef::Missing,
        }
    }
    match v {
        Value::String(s) => FieldRef::Str(s),
        other => FieldRef::Value(other),
    }
}

/// Values at a dotted path where a key applied to an array applies to each element
/// (the `request_parameters` / `response_elements` semantics); a `*` segment matches any key.
pub fn lookup_all<'v>(v: &'v Value, path: &[&str], out: &mut Vec<&'v Value>) {
    let Some((first, rest)) = path.split_first() else {
        // A path ending on an array means its elements (`valuesToAdd: ["all"]`).
        match v {
            Value::Array(a) => out.extend(a.iter()),
            other => out.push(other),
        }
        return;
    };
    if *first == "*" {
        match v {
            Value::Object(m) => m.values().for_each(|n| lookup_all(n, rest, out)),
            Value::Array(a) => a.iter().for_each(|n| lookup_all(n, rest, out)),
            _ => {}
        }
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(n) = m.get(*first) {
                lookup_all(n, rest, out);
            }
        }
        Value::Array(a) => {
            if let Ok(i) = first.parse::<usize>() {
                if let Some(n) = a.get(i) {
                    lookup_all(n, rest, out);
                }
            } else {
                for n in a {
                    lookup_all(n, path, out);
                }
            }
        }
        _ => {}
    }
}

/// Turns a serde_json error into a message without the misleading relative line/column.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let msg = match s.rfind(" at line ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_owned(),
        None => s,
    };
    format!(
        "{msg} (at column {} of the record's line {})",
        e.column(),
        e.line()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn ev(s: &str) -> Event<'_> {
        Event::parse(s).unwrap()
    }

    #[test]
    fn session_names_come_from_assumed_role_arns_only() {
        let name = |arn: &str| {
            let text = format!(
                r#"{{"eventName":"X","userIdentity":{{"arn":{}}}}}"#,
                serde_json::to_string(arn).unwrap()
            );
            Event::parse(&text)
                .unwrap()
                .session_name()
                .map(str::to_owned)
        };
        assert_eq!(
            name("arn:aws:sts::1:assumed-role/Admin/alice").as_deref(),
            Some("alice")
        );
        assert_eq!(
            name("arn:aws-cn:sts::1:assumed-role/R/s/t").as_deref(),
            Some("s/t")
        );
        assert_eq!(name("arn:aws:sts::1:assumed-role/R/").as_deref(), Some(""));
        assert_eq!(name("arn:aws:sts::1:assumed-role/R"), None);
        assert_eq!(name("arn:aws:sts::1:assumed-role"), None);
        assert_eq!(name(":assumed-role/"), None);
        assert_eq!(name("arn:aws:iam::1:user/assumed-role/x"), None);
        assert_eq!(name("arn:aws:iam::1:root"), None);
    }

    #[test]
    fn direct_field_reader_matches_serde() {
        // Read directly (and identical to serde's result)…
        for text in [
            r#"{"eventName":"A","resources":[{"arn":"x"},{"ARN":"y","type":"z"}],"x":[1,{"y":null}]}"#,
            r#" {"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"a","sessionContext":{"sessionIssuer":{"type":"Role","userName":"R","arn":"r","accountId":"1"},"attributes":{}}},"eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"1.2.3.4","userAgent":"ua","errorCode":null,"requestParameters":{"bucketName":"b"},"responseElements":null,"additionalEventData":5,"eventID":"e","eventType":"AwsApiCall","recipientAccountId":"1","@timestamp":"t","errorMessage":"m\u00e9\n"} "#,
            r#"{"eventName":"A","userIdentity":null,"resources":[]}"#,
        ] {
            assert!(fast::fields_whole(text).is_some(), "{text}");
            Event::check_field_readers_agree(text).unwrap();
        }
        // …or left to serde (repeats, aliases repeated, wrong types, escaped keys, arrays as
        // structs, lone surrogates), which then decides.
        for text in [
            r#"{"eventName":"A","eventName":"B"}"#,
            r#"{"eventName":"A","resources":[{"arn":"x","ARN":"y"}]}"#,
            r#"{"eventName":5}"#,
            r#"{"event\u004eame":"A"}"#,
            r#"{"eventName":"A","userIdentity":["Root"]}"#,
            r#"{"eventName":"A","resources":[null]}"#,
            r#"{"eventName":"\ud800"}"#,
            r#"{"eventName":"A"} x"#,
        ] {
            assert!(fast::fields_whole(text).is_none(), "{text}");
        }
    }

    #[test]
    fn accepted_text_becomes_a_raw_value_unchecked() {
        let text = r#"{"eventName":"A","x":[1,{"y":"\u00e9"}]}"#;
        // The unchecked path is taken (it would fail if serde_json's marker changed, and
        // this would fail too), and gives the text itself.
        assert!(std::ptr::eq(marked_raw_value(text).unwrap().get(), text));
        assert_eq!(accepted_raw_value(text).get(), text);
        assert_eq!(accepted_raw_value(&format!(" \n{text}\t")).get(), text);
        let ev = Event::parse(text).unwrap();
        let shared = ev.shared_raw();
        assert_eq!(shared.get(), text);
        let back: Value = serde_json::from_str(shared.get()).unwrap();
        assert_eq!(back.pointer("/x/1/y"), Some(&Value::from("é")));
    }

    #[test]
    fn fields_borrow_from_the_text() {
        let e = ev(
            r#"{"eventName":"RunInstances","userIdentity":{"arn":"arn:aws:iam::1:user/a"},"awsRegion":"us-east-1"}"#,
        );
        assert!(
            matches!(e.f.event_name, Some(Cow::Borrowed(_))),
            "eventName copied"
        );
        assert!(
            matches!(e.f.aws_region, Some(Cow::Borrowed(_))),
            "awsRegion copied"
        );
        let ui = e.f.user_identity.as_ref().unwrap();
        assert!(matches!(ui.arn, Some(Cow::Borrowed(_))), "arn copied");
    }

    #[test]
    fn escaped_strings_and_keys_are_unescaped() {
        // Every escape form, in a top-level value, a nested value and a key: the direct reader
        // must hand them to serde for unescaping, never borrow the escaped text.
        for (text, name, user) in [
            (
                r#"{"eventName":"a\"b","userIdentity":{"userName":"c\\d"}}"#,
                "a\"b",
                "c\\d",
            ),
            (
                r#"{"eventName":"a\/b","userIdentity":{"userName":"c\nd"}}"#,
                "a/b",
                "c\nd",
            ),
            (
                r#"{"eventName":"a\tb","userIdentity":{"userName":"\b\f\r"}}"#,
                "a\tb",
                "\u{8}\u{c}\r",
            ),
            (
                r#"{"eventName":"\u0041","userIdentity":{"userName":"\ud83d\ude00"}}"#,
                "A",
                "\u{1f600}",
            ),
            (
                r#"{"event\u004eame":"X","userIdentity":{"user\u004eame":"u"}}"#,
                "X",
                "u",
            ),
        ] {
            Event::check_field_readers_agree(text).unwrap();
            let e = ev(text);
            assert_eq!(e.event_name(), Some(name), "{text}");
            assert_eq!(
                e.identity().and_then(|i| i.user_name.as_deref()),
                Some(user),
                "{text}"
            );
        }
    }

    #[test]
    fn identities() {
        let root = r#"{"eventName":"ConsoleLogin","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root","accountId":"1"}}"#;
        let e = ev(root);
        assert_eq!(e.display_user(), "root");
        assert!(e.user_names().contains(&"root"));

        let role = r#"{"eventName":"X","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/bob@example.com",
           "sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin","arn":"arn:aws:iam::1:role/Admin"}}}}"#;
        let e = ev(role);
        assert_eq!(e.display_user(), "Admin/bob@example.com");
        let names = e.user_names();
        for n in [
            "Admin",
            "arn:aws:iam::1:role/Admin",
            "bob@example.com",
            "arn:aws:sts::1:assumed-role/Admin/bob@example.com",
        ] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }

        let svc = r#"{"eventName":"X","userIdentity":{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"}}"#;
        assert_eq!(ev(svc).display_user(), "cloudtrail.amazonaws.com");
        assert_eq!(ev(r#"{"eventName":"X"}"#).display_user(), "unknown");
    }

    #[test]
    fn outcomes() {
        let o = |s| ev(s).outcome();
        assert_eq!(
            o(r#"{"eventName":"X","errorCode":"Client.UnauthorizedOperation"}"#),
            Outcome::Unauthorized
        );
        assert_eq!(
            o(r#"{"eventName":"X","errorCode":"AccessDeniedException"}"#),
            Outcome::Unauthorized
        );
        assert_eq!(
            o(r#"{"eventName":"X","errorCode":"NoSuchBucket"}"#),
            Outcome::Failure
        );
        assert_eq!(o(r#"{"eventName":"X","errorCode":""}"#), Outcome::Success);
        assert_eq!(
            o(r#"{"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Failure"}}"#),
            Outcome::Failure
        );
        assert_eq!(
            o(r#"{"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Success"}}"#),
            Outcome::Success
        );
    }

    #[test]
    fn wrong_types_and_missing_fields_are_errors() {
        let e = Event::parse(r#"{"eventName": 5}"#).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        assert!(
            Event::parse(r#"{"eventSource":"x"}"#)
                .unwrap_err()
                .contains("eventName")
        );
        assert!(Event::parse("[1]").is_err());
        assert!(Event::parse(r#"{"eventName":"X","userIdentity":"root"}"#).is_err());
    }

    #[test]
    fn source_ips() {
        let e = ev(r#"{"eventName":"X","sourceIPAddress":"fe80::1%eth0"}"#);
        assert_eq!(e.source_ip_addr(), "fe80::1".parse().ok());
        let e = ev(r#"{"eventName":"X","sourceIPAddress":"AWS Internal"}"#);
        assert_eq!(e.source_ip_addr(), None);
    }

    #[test]
    fn lookups() {
        let e = ev(
            r#"{"eventName":"X","requestParameters":{"a":[{"b":"1"},{"b":"2"}]},"tlsDetails":{"tlsVersion":"TLSv1.3"},"resources":[{"ARN":"arn:r"}]}"#,
        );
        let p = |s: &str| {
            s.split('.')
                .map(|k| Segment::Key(k.into()))
                .collect::<Vec<_>>()
        };
        assert!(matches!(
            e.lookup(&p("tlsDetails.tlsVersion")),
            FieldRef::Str("TLSv1.3")
        ));
        assert!(matches!(
            e.lookup(&p("requestParameters.a.b")),
            FieldRef::Missing
        ));
        let mut path = p("requestParameters.a");
        path.push(Segment::Index(1));
        path.push(Segment::Key("b".into()));
        assert!(matches!(e.lookup(&path), FieldRef::Str("2")));
        let mut out = vec![];
        lookup_all(e.request_parameters().unwrap(), &["a", "b"], &mut out);
        assert_eq!(out.len(), 2);
        let ids = e.resource_ids();
        assert!(ids.contains(&"arn:r") && ids.contains(&"2"));
    }

    #[test]
    fn resource_ids_from_raw_text() {
        // Escaped strings are unescaped; keys, numbers and booleans are not ids; a subtree too
        // deep for the parser contributes nothing (and does not stop the other one).
        let deep = format!("{}\"x\"{}", "[".repeat(300), "]".repeat(300));
        let text = format!(
            r#"{{"eventName":"X","requestParameters":{{"bucket":"arn:\u0061ws:s3:::B","n":5,"ok":true,"k":{{"arn:key":null}}}},"responseElements":{deep}}}"#
        );
        let e = ev(&text);
        assert_eq!(e.resource_ids(), vec!["arn:aws:s3:::B"]);
        assert!(e.resource_id_set().contains("arn:aws:s3:::b"));
        let long = "a".repeat(MAX_RESOURCE_ID + 1);
        let text = format!(
            r#"{{"eventName":"X","requestParameters":{{"a":"{long}","b":["i-1",{{"c":"i-2"}}]}}}}"#
        );
        let e = ev(&text);
        assert_eq!(e.resource_ids(), vec!["i-1", "i-2"]);
    }
}
