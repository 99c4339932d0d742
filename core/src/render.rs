//! What each channel sends, rendered from a result. Pure functions, so they are fuzzed and
//! tested without a network.
//!
//! Event fields are attacker-chosen (user names, role session names, user agents, request
//! parameters), so every renderer neutralises them for its format: control characters and line
//! breaks never reach a text format, Slack markup (`<`, `>`, `&`, mentions, links) is escaped
//! and values sit in code spans, syslog structured data and CEF escape their delimiters, HTML
//! is escaped, and email/SNS subjects are single-line. `docs/security.md` lists the rules.

use serde_json::{Map, Value, json};

use crate::alert::Risk;
use crate::notify::SyslogFormat;
use crate::result::AlertResult;
use crate::time::{format_epoch_ms, parse_event_time};

/// The facts a notification shows, taken from a result and its raw event.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Alert name.
    pub alert: String,
    /// Alert id.
    pub alert_id: String,
    /// Risk.
    pub risk: Risk,
    /// Who (display user).
    pub who: String,
    /// Identity type and ARN, when known.
    pub identity: String,
    /// What: `service:EventName`.
    pub what: String,
    /// Where: account and region.
    pub location: String,
    /// When: `eventTime`.
    pub when: String,
    /// Source IP (or service name).
    pub source_ip: String,
    /// Outcome: `success`, or the error code and message.
    pub outcome: String,
    /// User agent.
    pub user_agent: String,
    /// Request parameters as compact JSON, shortened.
    pub request: String,
    /// For threshold alerts: `N events since T`.
    pub threshold: Option<String>,
    /// Result id.
    pub result_id: String,
    /// Event id.
    pub event_id: String,
}

/// Longest value shown for a single field, in characters.
pub const MAX_FIELD: usize = 256;
/// Longest request-parameter summary, in characters.
pub const MAX_REQUEST: usize = 600;

/// Replaces control characters (line breaks, tabs, NUL, Unicode line/paragraph separators and
/// bidirectional overrides) by spaces and shortens to `max` characters (adding `…`).
///
/// ```
/// assert_eq!(trailalerts::render::clean("a\r\nb\u{202e}c", 100), "a  b c");
/// assert_eq!(trailalerts::render::clean("abcdef", 3), "abc…");
/// ```
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 4));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        let bad = c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        out.push(if bad { ' ' } else { c });
    }
    out
}

fn opt(s: Option<&String>) -> String {
    s.map_or_else(|| "-".to_owned(), |s| clean(s, MAX_FIELD))
}

impl Facts {
    /// Collects the facts of a result.
    pub fn of(r: &AlertResult) -> Self {
        let raw: Value = serde_json::from_str(r.raw.get()).unwrap_or(Value::Null);
        let s = |p: &[&str]| -> Option<String> {
            let mut v = &raw;
            for k in p {
                v = v.get(k)?;
            }
            v.as_str().map(str::to_owned)
        };
        let identity = match (s(&["userIdentity", "type"]), s(&["userIdentity", "arn"])) {
            (Some(t), Some(a)) => format!("{t} {a}"),
            (Some(t), None) => t,
            (None, Some(a)) => a,
            (None, None) => "-".into(),
        };
        let outcome = match (&r.error_code, s(&["errorMessage"])) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, _) => "success".into(),
        };
        let request = match raw.get("requestParameters") {
            None | Some(Value::Null) => "-".into(),
            Some(v) => v.to_string(),
        };
        let service = r
            .event_source
            .as_deref()
            .unwrap_or("-")
            .trim_end_matches(".amazonaws.com");
        Self {
            alert: clean(&r.alert_name, MAX_FIELD),
            alert_id: clean(&r.alert_id, MAX_FIELD),
            risk: r.risk,
            who: clean(&r.user, MAX_FIELD),
            identity: clean(&identity, MAX_FIELD),
            what: clean(
                &format!("{service}:{}", r.event_name.as_deref().unwrap_or("-")),
                MAX_FIELD,
            ),
            location: format!(
                "account {} in {}",
                opt(r.account_id.as_ref()),
                opt(r.region.as_ref())
            ),
            when: opt(r.event_time.as_ref()),
            source_ip: opt(r.source_ip.as_ref()),
            outcome: clean(&outcome, MAX_FIELD),
            user_agent: clean(&s(&["userAgent"]).unwrap_or_else(|| "-".into()), MAX_FIELD),
            request: clean(&request, MAX_REQUEST),
            threshold: r.count.map(|n| match &r.window_start {
                Some(t) => format!("{n} events since {}", clean(t, 64)),
                None => format!("{n} events"),
            }),
            result_id: r.id.clone(),
            event_id: clean(&r.event_id, MAX_FIELD),
        }
    }

    /// One line: `[HIGH] Alert name: alice did iam:CreateUser in account 1 in us-east-1`.
    pub fn headline(&self) -> String {
        format!(
            "[{}] {}: {} did {} ({})",
            risk_upper(self.risk),
            self.alert,
            self.who,
            self.what,
            self.location
        )
    }

    fn rows(&self) -> Vec<(&'static str, &str)> {
        let mut rows = vec![
            ("Risk", risk_upper(self.risk)),
            ("Who", self.who.as_str()),
            ("Identity", self.identity.as_str()),
            ("What", self.what.as_str()),
            ("Where", self.location.as_str()),
            ("When", self.when.as_str()),
            ("Source IP", self.source_ip.as_str()),
            ("Outcome", self.outcome.as_str()),
            ("User agent", self.user_agent.as_str()),
        ];
        if let Some(t) = &self.threshold {
            rows.push(("Threshold", t.as_str()));
        }
        rows.push(("Request", self.request.as_str()));
        rows.push(("Event id", self.event_id.as_str()));
        rows.push(("Result id", self.result_id.as_str()));
        rows
    }
}

fn risk_upper(r: Risk) -> &'static str {
    match r {
        Risk::Low => "LOW",
        Risk::Medium => "MEDIUM",
        Risk::High => "HIGH",
        Risk::Critical => "CRITICAL",
    }
}

/// Escapes text for Slack: `&`, `<`, `>` become entities (so `<!channel>`, `<@U1>` and
/// `<http://x|y>` are inert) and backticks become `ˋ` so a value cannot leave its code span.
pub fn slack_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('ˋ'),
            c => out.push(c),
        }
    }
    out
}

/// The Slack incoming-webhook payload: a `text` fallback and blocks with one field per fact.
/// Event values are escaped and shown in code spans, so Slack neither links nor formats them.
///
/// ```
/// # use trailalerts::{Engine, Event};
/// # let mut e = Engine::builder().builtin(false)
/// #     .alerts_json(r#"{"id": "stop", "name": "Trail stopped", "risk": "critical", "events": ["StopLogging"]}"#).unwrap()
/// #     .build().unwrap();
/// # let r = e.evaluate(&Event::parse(r#"{"eventName": "StopLogging", "eventID": "e1", "eventTime": "2024-08-02T08:53:24Z",
/// #     "userIdentity": {"type": "IAMUser", "userName": "<!channel>"}}"#).unwrap()).remove(0);
/// let p = trailalerts::render::slack_payload(&r);
/// assert!(p["text"].as_str().unwrap().contains("&lt;!channel&gt;"));
/// ```
pub fn slack_payload(r: &AlertResult) -> Value {
    let f = Facts::of(r);
    let code = |s: &str| format!("`{}`", slack_escape(s));
    let fields: Vec<Value> = f
        .rows()
        .into_iter()
        .filter(|(k, _)| *k != "Request" && *k != "Result id")
        .map(|(k, v)| json!({"type": "mrkdwn", "text": format!("*{k}*\n{}", if k == "Risk" { v.to_owned() } else { code(v) })}))
        .collect();
    // plain_text is not parsed for markup, but angle brackets are replaced too so no Slack
    // client version can read a mention or link there.
    let header = clean(&format!("{} [{}]", f.alert, risk_upper(f.risk)), 150)
        .replace('<', "‹")
        .replace('>', "›");
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": false}}),
    ];
    for chunk in fields.chunks(10) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Request*\n{}", code(&f.request))}}));
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("trailalerts · alert {} · result {}", code(&f.alert_id), code(&f.result_id))}]}));
    json!({
        "text": slack_escape(&f.headline()),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// PagerDuty severity for a risk.
pub fn pagerduty_severity(r: Risk) -> &'static str {
    match r {
        Risk::Critical => "critical",
        Risk::High => "error",
        Risk::Medium => "warning",
        Risk::Low => "info",
    }
}

/// The dedup key of a result: one incident per (alert, event) — for threshold alerts the event
/// that completed the window, so each window is one incident.
pub fn dedup_key(r: &AlertResult) -> String {
    format!("trailalerts-{}", r.id)
}

/// The PagerDuty Events API v2 `trigger` body.
///
/// ```
/// # use trailalerts::{Engine, Event};
/// # let mut e = Engine::builder().builtin(false)
/// #     .alerts_json(r#"{"id": "stop", "name": "Trail stopped", "risk": "critical", "events": ["StopLogging"]}"#).unwrap()
/// #     .build().unwrap();
/// # let r = e.evaluate(&Event::parse(r#"{"eventName": "StopLogging", "eventID": "e1", "eventTime": "2024-08-02T08:53:24Z",
/// #     "userIdentity": {"type": "IAMUser", "userName": "<!channel>"}}"#).unwrap()).remove(0);
/// let p = trailalerts::render::pagerduty_payload(&r, "KEY");
/// assert_eq!(p["payload"]["severity"], "critical");
/// assert_eq!(p["dedup_key"], format!("trailalerts-{}", r.id));
/// ```
pub fn pagerduty_payload(r: &AlertResult, routing_key: &str) -> Value {
    let f = Facts::of(r);
    let timestamp = r
        .event_time
        .as_deref()
        .and_then(parse_event_time)
        .map(format_epoch_ms);
    let mut details = Map::new();
    for (k, v) in f.rows() {
        details.insert(
            k.to_lowercase().replace(' ', "_"),
            Value::String(v.to_owned()),
        );
    }
    details.insert("alert_id".into(), Value::String(r.alert_id.clone()));
    let mut payload = json!({
        "summary": clean(&f.headline(), 1024),
        "source": clean(&format!("aws:{}:{}", r.account_id.as_deref().unwrap_or("unknown"), r.region.as_deref().unwrap_or("unknown")), 255),
        "severity": pagerduty_severity(r.risk),
        "component": clean(r.event_source.as_deref().unwrap_or("unknown"), 255),
        "group": clean(r.account_id.as_deref().unwrap_or("unknown"), 255),
        "class": clean(r.event_name.as_deref().unwrap_or("unknown"), 255),
        "custom_details": details,
    });
    if let (Some(t), Value::Object(m)) = (timestamp, &mut payload) {
        m.insert("timestamp".into(), Value::String(t));
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(r),
        "client": "trailalerts",
        "payload": payload,
    })
}

/// The result as a JSON document for machines (SNS message, Lambda payload, syslog `json`):
/// the result's fields plus `summary`, and the raw event as `event` unless that would pass
/// `max_bytes` (then `event_omitted: true`).
pub fn json_message(r: &AlertResult, max_bytes: usize) -> Value {
    let f = Facts::of(r);
    let mut v = json!({
        "source": "trailalerts",
        "result_id": r.id,
        "alert_id": r.alert_id,
        "alert_name": r.alert_name,
        "risk": r.risk,
        "summary": f.headline(),
        "event_id": r.event_id,
        "event_time": r.event_time,
        "event_name": r.event_name,
        "event_source": r.event_source,
        "region": r.region,
        "user": r.user,
        "source_ip": r.source_ip,
        "error_code": r.error_code,
        "account_id": r.account_id,
        "count": r.count,
        "window_start": r.window_start,
    });
    let base = v.to_string().len();
    if let Value::Object(m) = &mut v {
        if base + r.raw.get().len() + 16 <= max_bytes {
            m.insert(
                "event".into(),
                serde_json::from_str(r.raw.get()).unwrap_or(Value::Null),
            );
        } else {
            m.insert("event_omitted".into(), Value::Bool(true));
        }
    }
    v
}

/// A subject line: single line, at most `max` characters, printable ASCII when `ascii` (SNS
/// requires it; other characters become `?`).
pub fn subject(r: &AlertResult, max: usize, ascii: bool) -> String {
    let f = Facts::of(r);
    let s = clean(
        &format!("[{}] {}: {} {}", risk_upper(r.risk), f.alert, f.who, f.what),
        max,
    );
    if ascii {
        s.chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    } else {
        s
    }
}

/// The plain-text email body.
pub fn email_text(r: &AlertResult) -> String {
    let f = Facts::of(r);
    let mut out = format!("{}\n\n", f.headline());
    for (k, v) in f.rows() {
        out.push_str(&format!("{k:<11} {v}\n"));
    }
    out.push_str("\n-- \ntrailalerts\n");
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML email body (every value escaped; no links, no remote content).
pub fn email_html(r: &AlertResult) -> String {
    let f = Facts::of(r);
    let mut rows = String::new();
    for (k, v) in f.rows() {
        rows.push_str(&format!(
            "<tr><th style=\"text-align:left;padding:2px 12px 2px 0\">{}</th><td><code>{}</code></td></tr>\n",
            html_escape(k),
            html_escape(v)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><body>\n<h2>{}</h2>\n<table>\n{rows}</table>\n<p style=\"color:#666\">trailalerts</p>\n</body></html>\n",
        html_escape(&format!("{} [{}]", f.alert, risk_upper(f.risk)))
    )
}

/// Syslog severity for a risk: critical 2, high 3 (error), medium 4 (warning), low 5 (notice).
pub fn syslog_severity(r: Risk) -> u8 {
    match r {
        Risk::Critical => 2,
        Risk::High => 3,
        Risk::Medium => 4,
        Risk::Low => 5,
    }
}

/// RFC 5424 header fields: printable ASCII without spaces, at most `max` characters, `-` when empty.
fn header_token(s: &str, max: usize) -> String {
    let t: String = s.chars().filter(char::is_ascii_graphic).take(max).collect();
    if t.is_empty() { "-".into() } else { t }
}

/// Escapes an RFC 5424 structured-data parameter value (`"`, `\` and `]`), with control
/// characters replaced by spaces.
pub fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in clean(s, MAX_FIELD).chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn cef_header(s: &str) -> String {
    clean(s, MAX_FIELD)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
}

/// Escapes a CEF extension value: `\`, `=`, and line breaks as `\n` / `\r`.
pub fn cef_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars().take(1023) {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// CEF severity (0–10) for a risk.
pub fn cef_severity(r: Risk) -> u8 {
    match r {
        Risk::Low => 3,
        Risk::Medium => 5,
        Risk::High => 8,
        Risk::Critical => 10,
    }
}

/// The CEF line for a result.
///
/// ```
/// # use trailalerts::{Engine, Event};
/// # let mut e = Engine::builder().builtin(false)
/// #     .alerts_json(r#"{"id": "stop", "name": "Trail stopped", "risk": "critical", "events": ["StopLogging"]}"#).unwrap()
/// #     .build().unwrap();
/// # let r = e.evaluate(&Event::parse(r#"{"eventName": "StopLogging", "eventID": "e1", "eventTime": "2024-08-02T08:53:24Z",
/// #     "userIdentity": {"type": "IAMUser", "userName": "<!channel>"}}"#).unwrap()).remove(0);
/// let cef = trailalerts::render::cef_message(&r, "1.0");
/// assert!(cef.starts_with("CEF:0|trailalerts|trailalerts|1.0|stop|Trail stopped|10|"));
/// ```
pub fn cef_message(r: &AlertResult, version: &str) -> String {
    let f = Facts::of(r);
    let mut ext: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| ext.push((k.to_owned(), cef_value(v)));
    if let Some(ms) = r.event_time.as_deref().and_then(parse_event_time) {
        push("rt", &ms.to_string());
    }
    push("cat", r.event_source.as_deref().unwrap_or("-"));
    push("act", r.event_name.as_deref().unwrap_or("-"));
    push("suser", &r.user);
    match r.source_ip.as_deref() {
        Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() => push("src", ip),
        Some(host) => push("shost", host),
        None => {}
    }
    push(
        "outcome",
        if r.error_code.is_some() {
            "failure"
        } else {
            "success"
        },
    );
    push("cs1Label", "region");
    push("cs1", r.region.as_deref().unwrap_or("-"));
    push("cs2Label", "accountId");
    push("cs2", r.account_id.as_deref().unwrap_or("-"));
    push("cs3Label", "eventId");
    push("cs3", &r.event_id);
    push("cs4Label", "resultId");
    push("cs4", &r.id);
    push("cs5Label", "errorCode");
    push("cs5", r.error_code.as_deref().unwrap_or("-"));
    push("cs6Label", "userAgent");
    push("cs6", &f.user_agent);
    if let Some(n) = r.count {
        push("cn1Label", "count");
        push("cn1", &n.to_string());
    }
    push("msg", &f.headline());
    let ext: Vec<String> = ext.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "CEF:0|trailalerts|trailalerts|{}|{}|{}|{}|{}",
        cef_header(version),
        cef_header(&r.alert_id),
        cef_header(&r.alert_name),
        cef_severity(r.risk),
        ext.join(" ")
    )
}

/// Settings of a syslog message that come from the sender, not the result.
#[derive(Debug, Clone)]
pub struct SyslogHeader<'a> {
    /// Facility code (see [`crate::facility_code`]).
    pub facility: u8,
    /// This host's name.
    pub hostname: &'a str,
    /// APP-NAME (`trailalerts`).
    pub app_name: &'a str,
    /// PROCID (the process id, or `-`).
    pub proc_id: &'a str,
    /// Product version for CEF.
    pub version: &'a str,
}

/// One RFC 5424 syslog message (without transport framing): header, structured data
/// `[trailalerts@32473 …]` and the message in the chosen format. The timestamp is the event
/// time (the moment the message describes), `-` when the event has none.
///
/// ```
/// # use trailalerts::{Engine, Event};
/// # let mut e = Engine::builder().builtin(false)
/// #     .alerts_json(r#"{"id": "stop", "name": "Trail stopped", "risk": "critical", "events": ["StopLogging"]}"#).unwrap()
/// #     .build().unwrap();
/// # let r = e.evaluate(&Event::parse(r#"{"eventName": "StopLogging", "eventID": "e1", "eventTime": "2024-08-02T08:53:24Z",
/// #     "userIdentity": {"type": "IAMUser", "userName": "<!channel>"}}"#).unwrap()).remove(0);
/// use trailalerts::render::{SyslogHeader, syslog_message};
/// let h = SyslogHeader { facility: 16, hostname: "collector", app_name: "trailalerts", proc_id: "1", version: "1.0" };
/// let line = syslog_message(&r, trailalerts::SyslogFormat::Rfc5424, &h);
/// assert!(line.starts_with("<130>1 2024-08-02T08:53:24Z collector trailalerts 1 stop [trailalerts@32473 alert_id=\"stop\""));
/// ```
pub fn syslog_message(r: &AlertResult, format: SyslogFormat, h: &SyslogHeader<'_>) -> String {
    let pri = u16::from(h.facility) * 8 + u16::from(syslog_severity(r.risk));
    let ts = r
        .event_time
        .as_deref()
        .and_then(parse_event_time)
        .map_or_else(|| "-".to_owned(), format_epoch_ms);
    let mut sd = String::from("[trailalerts@32473");
    let params: [(&str, Option<&str>); 9] = [
        ("alert_id", Some(&r.alert_id)),
        ("risk", Some(r.risk.as_str())),
        ("event_name", r.event_name.as_deref()),
        ("event_source", r.event_source.as_deref()),
        ("region", r.region.as_deref()),
        ("account_id", r.account_id.as_deref()),
        ("user", Some(&r.user)),
        ("source_ip", r.source_ip.as_deref()),
        ("result_id", Some(&r.id)),
    ];
    for (k, v) in params {
        if let Some(v) = v {
            sd.push_str(&format!(" {k}=\"{}\"", sd_escape(v)));
        }
    }
    sd.push(']');
    let msg = match format {
        SyslogFormat::Rfc5424 => Facts::of(r).headline(),
        SyslogFormat::Cef => cef_message(r, h.version),
        SyslogFormat::Json => json_message(r, 7 * 1024).to_string(),
    };
    format!(
        "<{pri}>1 {ts} {} {} {} {} {sd} {}",
        header_token(h.hostname, 255),
        header_token(h.app_name, 48),
        header_token(h.proc_id, 128),
        header_token(&r.alert_id, 32),
        msg.replace(['\n', '\r'], " ")
    )
}

/// Octet-counting framing for syslog over TCP and TLS (RFC 6587 §3.4.1, RFC 5425): `LEN SP MSG`.
pub fn octet_counted(msg: &str) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}
