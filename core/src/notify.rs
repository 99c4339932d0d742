//! Notifications: the `Notifier` trait, channel configuration and secrets.
//!
//! A notifier delivers one result to one channel (an entry of an alert's `notifications`
//! list). The core validates channel configuration, renders payloads ([`crate::render`]) and
//! models the delivery outbox ([`crate::outbox`]); sending lives in `trailalerts-adapters`,
//! because the core does no I/O.

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::NotifyError;
use crate::result::AlertResult;

/// Delivers results to a channel type (`slack`, `email`, …).
pub trait Notifier: Send + Sync {
    /// The channel type this notifier handles, as written in `notifications[].type`.
    fn channel(&self) -> &str;
    /// Delivers `result` using the channel configuration `config` (one `notifications` entry).
    fn send(&self, result: &AlertResult, config: &Value) -> Result<(), NotifyError>;
}

/// Records every notification in memory (for tests and embedding).
///
/// ```
/// use trailalerts::{MemoryNotifier, Notifier};
/// let n = MemoryNotifier::new("memory");
/// assert_eq!(n.channel(), "memory");
/// assert!(n.sent().is_empty());
/// ```
#[derive(Debug)]
pub struct MemoryNotifier {
    channel: String,
    sent: Mutex<Vec<(AlertResult, Value)>>,
}

impl MemoryNotifier {
    /// A notifier for channel type `channel`.
    pub fn new(channel: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            sent: Mutex::new(Vec::new()),
        }
    }
    /// What was sent so far.
    pub fn sent(&self) -> Vec<(AlertResult, Value)> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Notifier for MemoryNotifier {
    fn channel(&self) -> &str {
        &self.channel
    }
    fn send(&self, result: &AlertResult, config: &Value) -> Result<(), NotifyError> {
        self.sent
            .lock()
            .map_err(|_| NotifyError::permanent(&self.channel, "notifier state poisoned"))?
            .push((result.clone(), config.clone()));
        Ok(())
    }
}

/// A secret-bearing setting (webhook URL, routing key, SMTP URL or password): either the value
/// itself or `env:NAME`, read from the environment when sending. `Debug` and `Display` never
/// show the value in full (see [`Secret::redacted`]).
///
/// ```
/// use trailalerts::Secret;
/// let s = Secret::new("https://hooks.slack.com/services/T000/B000/XXXXSECRET");
/// assert_eq!(s.redacted(), "https://hooks.slack.com/…");
/// assert!(!format!("{s:?}").contains("XXXX"));
/// assert_eq!(Secret::new("env:SLACK_URL").env_name(), Some("SLACK_URL"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value or an `env:NAME` reference.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The variable name when the secret is `env:NAME`.
    pub fn env_name(&self) -> Option<&str> {
        self.0.strip_prefix("env:").map(str::trim)
    }
    /// The value, reading `env:NAME` through `lookup` (the caller supplies the environment:
    /// the core reads none).
    pub fn resolve(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
        channel: &str,
        field: &str,
    ) -> Result<String, NotifyError> {
        match self.env_name() {
            Some(name) => lookup(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                NotifyError::permanent(
                    channel,
                    format!("`{field}` refers to environment variable {name}, which is not set"),
                )
            }),
            None => Ok(self.0.clone()),
        }
    }
    /// A form safe to show: `env:NAME` as is; URLs as scheme and host (user name kept,
    /// password and path dropped); other values as `…` and their last 4 characters when long.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

/// Redacts a secret value (see [`Secret::redacted`]).
pub fn redact(s: &str) -> String {
    if s.starts_with("env:") {
        return s.to_owned();
    }
    if let Some((scheme, rest)) = s.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{user}:…@{host}")
            }
            None => authority.to_owned(),
        };
        return format!("{scheme}://{host}/…");
    }
    let n = s.chars().count();
    if n >= 16 {
        let tail: String = s.chars().skip(n - 4).collect();
        format!("…{tail}")
    } else {
        "…".to_owned()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?})", self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The message format of a syslog channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// RFC 5424 with structured data and a readable message (default).
    #[default]
    Rfc5424,
    /// ArcSight Common Event Format, carried in an RFC 5424 message.
    Cef,
    /// The result as one line of JSON, carried in an RFC 5424 message.
    Json,
}

/// One entry of an alert's `notifications` list, for the six built-in channel types.
/// Other `type`s are custom channels handled by a notifier the embedding program registers.
///
/// ```
/// use trailalerts::ChannelConfig;
/// let c = ChannelConfig::parse(&serde_json::json!({"type": "syslog", "address": "tcp://127.0.0.1:514", "format": "cef"})).unwrap();
/// assert!(matches!(c, Some(ChannelConfig::Syslog { .. })));
/// let err = ChannelConfig::parse(&serde_json::json!({"type": "slack", "webhook": "x"})).unwrap_err();
/// assert!(err.contains("webhook"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelConfig {
    /// Slack incoming webhook.
    Slack {
        /// The webhook URL (secret).
        webhook_url: Secret,
    },
    /// PagerDuty Events API v2.
    Pagerduty {
        /// The integration's routing key (secret).
        routing_key: Secret,
        /// Overrides `https://events.pagerduty.com/v2/enqueue` (EU accounts, proxies).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Syslog to a SIEM.
    Syslog {
        /// `udp://host:port`, `tcp://host:port` or `tls://host:port`.
        address: String,
        /// `rfc5424` (default), `cef` or `json`.
        #[serde(default)]
        format: SyslogFormat,
        /// Facility name (`local0` … `local7`, `auth`, `authpriv`, `security`, `user`…); default `local0`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        facility: Option<String>,
        /// For `tls://`: a PEM file of CA certificates to trust instead of the public roots.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<String>,
    },
    /// Amazon SNS topic.
    Sns {
        /// The topic ARN.
        topic_arn: String,
        /// Region (default: from the ARN).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        /// An SNS-compatible endpoint instead of AWS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_url: Option<String>,
    },
    /// AWS Lambda function (asynchronous invocation).
    Lambda {
        /// Function name or ARN.
        function: String,
        /// Region (default: from the ARN, else the AWS configuration).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        /// A Lambda-compatible endpoint instead of AWS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_url: Option<String>,
    },
    /// Email over SMTP.
    Email {
        /// `smtp://host:port` (STARTTLS when offered), `smtp+starttls://` (STARTTLS required),
        /// `smtps://host:port` (TLS) or `smtp+insecure://` (plain, for local relays);
        /// may carry `user:password@` (secret).
        smtp_url: Secret,
        /// Sender address.
        from: String,
        /// Recipients.
        to: Vec<String>,
        /// SMTP user name (instead of one in the URL).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// SMTP password (secret).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<Secret>,
        /// A PEM file of CA certificates to trust in addition to the public roots (private relays).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<String>,
    },
}

/// The built-in channel types.
pub const CHANNEL_TYPES: [&str; 6] = ["slack", "pagerduty", "syslog", "sns", "lambda", "email"];

impl ChannelConfig {
    /// Parses and checks a `notifications` entry. `Ok(None)` for a custom channel type (any
    /// `type` other than the six built-in ones); errors name the field and the problem.
    pub fn parse(v: &Value) -> Result<Option<Self>, String> {
        let Some(ty) = v.get("type").and_then(Value::as_str) else {
            return Err("every notification needs a `type` such as `slack`".into());
        };
        if !CHANNEL_TYPES.contains(&ty) {
            return Ok(None);
        }
        let c: Self = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        c.check()?;
        Ok(Some(c))
    }

    /// The channel type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Slack { .. } => "slack",
            Self::Pagerduty { .. } => "pagerduty",
            Self::Syslog { .. } => "syslog",
            Self::Sns { .. } => "sns",
            Self::Lambda { .. } => "lambda",
            Self::Email { .. } => "email",
        }
    }

    fn check(&self) -> Result<(), String> {
        let url_like = |field: &str, s: &Secret, schemes: &[&str]| -> Result<(), String> {
            if s.env_name().is_some() {
                return Ok(());
            }
            let scheme = s.0.split_once("://").map(|(a, _)| a);
            if scheme.is_some_and(|x| schemes.contains(&x)) {
                Ok(())
            } else {
                Err(format!(
                    "`{field}` must be a {} URL or env:NAME",
                    schemes.join("/")
                ))
            }
        };
        match self {
            Self::Slack { webhook_url } => url_like("webhook_url", webhook_url, &["https", "http"]),
            Self::Pagerduty { routing_key, url } => {
                if routing_key.0.trim().is_empty() {
                    return Err("`routing_key` is empty".into());
                }
                match url {
                    Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                        Err("`url` must be an http(s) URL".into())
                    }
                    _ => Ok(()),
                }
            }
            Self::Syslog {
                address, facility, ..
            } => {
                syslog_address(address)?;
                if let Some(f) = facility {
                    facility_code(f).ok_or_else(|| format!("`facility`: unknown facility `{f}` (use local0…local7, auth, authpriv, security, user, daemon)"))?;
                }
                Ok(())
            }
            Self::Sns { topic_arn, .. } => {
                if topic_arn.starts_with("arn:") && topic_arn.split(':').count() == 6 {
                    Ok(())
                } else {
                    Err(
                        "`topic_arn` must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
                            .into(),
                    )
                }
            }
            Self::Lambda { function, .. } => {
                if function.trim().is_empty() {
                    Err("`function` is empty".into())
                } else {
                    Ok(())
                }
            }
            Self::Email {
                smtp_url, from, to, ..
            } => {
                url_like(
                    "smtp_url",
                    smtp_url,
                    &["smtp", "smtps", "smtp+starttls", "smtp+insecure"],
                )?;
                if !from.contains('@') {
                    return Err(format!("`from`: `{from}` is not an email address"));
                }
                if to.is_empty() {
                    return Err("`to` needs at least one address".into());
                }
                match to.iter().find(|a| !a.contains('@')) {
                    Some(a) => Err(format!("`to`: `{a}` is not an email address")),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The transport of a syslog address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    /// One message per datagram.
    Udp,
    /// Octet-counted framing (RFC 6587).
    Tcp,
    /// Octet-counted framing over TLS (RFC 5425).
    Tls,
}

/// Splits `udp://host:port` into transport, host and port.
///
/// ```
/// use trailalerts::{syslog_address, SyslogTransport};
/// assert_eq!(syslog_address("tls://siem.example.com:6514").unwrap(), (SyslogTransport::Tls, "siem.example.com".to_string(), 6514));
/// assert!(syslog_address("tcp://siem").is_err());
/// ```
pub fn syslog_address(address: &str) -> Result<(SyslogTransport, String, u16), String> {
    let bad = || {
        format!("`address`: `{address}` is not udp://host:port, tcp://host:port or tls://host:port")
    };
    let (scheme, rest) = address.split_once("://").ok_or_else(bad)?;
    let transport = match scheme {
        "udp" => SyslogTransport::Udp,
        "tcp" => SyslogTransport::Tcp,
        "tls" => SyslogTransport::Tls,
        _ => return Err(bad()),
    };
    let (host, port) = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((transport, host.to_owned(), port))
}

/// The syslog facility code of a name.
pub fn facility_code(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "daemon" => 3,
        "auth" | "security" => 4,
        "syslog" => 5,
        "authpriv" => 10,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

/// The key under which a channel's status is kept for a result: the type, or `type#N` for
/// the N-th (from 1) of several entries of the same type in one alert.
///
/// ```
/// use serde_json::json;
/// let list = vec![json!({"type": "slack"}), json!({"type": "email"}), json!({"type": "slack"})];
/// assert_eq!(trailalerts::channel_key(&list, 0), "slack#1");
/// assert_eq!(trailalerts::channel_key(&list, 1), "email");
/// assert_eq!(trailalerts::channel_key(&list, 2), "slack#2");
/// ```
pub fn channel_key(list: &[Value], index: usize) -> String {
    let ty = |v: &Value| {
        v.get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned()
    };
    let Some(this) = list.get(index).map(ty) else {
        return "unknown".into();
    };
    let same = list.iter().filter(|v| ty(v) == this).count();
    if same <= 1 {
        return this;
    }
    let n = list
        .iter()
        .take(index + 1)
        .filter(|v| ty(v) == this)
        .count();
    format!("{this}#{n}")
}

/// A copy of a `notifications` entry with every secret redacted, for display.
pub fn redact_config(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        for k in ["webhook_url", "routing_key", "smtp_url", "password"] {
            if let Some(Value::String(s)) = m.get_mut(k) {
                *s = redact(s);
            }
        }
    }
    v
}
