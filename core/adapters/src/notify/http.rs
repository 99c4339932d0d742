//! Slack incoming webhooks and PagerDuty Events API v2, over HTTPS with `ureq` (blocking,
//! rustls). Answers are classified for the outbox: 2xx delivered; 408, 429 and 5xx retried
//! (honouring `Retry-After`); other 4xx failed at once. Error messages never contain the
//! webhook URL or routing key.

use std::time::Duration;

use serde_json::Value;
use trailalerts::render::{pagerduty_payload, slack_payload};
use trailalerts::{AlertResult, ChannelConfig, Notifier, NotifyError};

use super::{config_of, env_lookup};

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A blocking HTTP client with the timeouts notifications need.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

impl HttpClient {
    /// A client whose requests give up after `timeout` (connect included).
    pub fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("trailalerts/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent }
    }

    /// POSTs JSON and classifies the answer. `channel` names the channel in errors.
    pub fn post_json(&self, channel: &str, url: &str, body: &Value) -> Result<String, NotifyError> {
        let text = body.to_string();
        let mut resp = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(text.as_bytes())
            .map_err(|e| transport_error(channel, &e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let snippet: String = trailalerts::render::clean(body.trim(), 200);
        match status {
            200..=299 => Ok(body),
            408 | 425 | 429 | 500..=599 => Err(NotifyError::transient(
                channel,
                format!("HTTP {status}: {snippet}"),
            )
            .retry_after(retry_after)),
            _ => Err(NotifyError::permanent(
                channel,
                format!("HTTP {status}: {snippet}"),
            )),
        }
    }
}

/// `Retry-After`: delay in seconds or an HTTP date; returns milliseconds from now.
pub fn parse_retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    )
}

fn transport_error(channel: &str, e: &ureq::Error) -> NotifyError {
    // ureq's own messages may quote the URL, which is the secret for webhooks: describe the
    // failure without it.
    let what = match e {
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::Io(io) => format!("network error ({})", io.kind()),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "TLS handshake failed".to_owned(),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
            return NotifyError::permanent(channel, "invalid URL");
        }
        ureq::Error::RequireHttpsOnly(_) => {
            return NotifyError::permanent(channel, "URL must be https");
        }
        _ => "request failed".to_owned(),
    };
    NotifyError::transient(channel, what)
}

/// Removes a secret from an error message (in case a receiver echoes it back).
fn scrub(mut e: NotifyError, secret: &str) -> NotifyError {
    if secret.len() >= 4 && e.message.contains(secret) {
        e.message = e.message.replace(secret, &trailalerts::redact(secret));
    }
    e
}

/// Posts results to Slack incoming webhooks (`{"type": "slack", "webhook_url": …}`).
///
/// ```no_run
/// use trailalerts::{Engine, Event, Notifier};
/// use trailalerts_adapters::notify::http::SlackNotifier;
/// let mut engine = Engine::builder().build()?;
/// let results = engine.evaluate(&Event::parse(r#"{"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"}"#)?);
/// let config = serde_json::json!({"type": "slack", "webhook_url": "env:SLACK_WEBHOOK_URL"});
/// SlackNotifier::new().send(&results[0], &config)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct SlackNotifier {
    client: HttpClient,
}

impl SlackNotifier {
    /// A notifier with a 10 s timeout.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Notifier for SlackNotifier {
    fn channel(&self) -> &str {
        "slack"
    }
    fn send(&self, result: &AlertResult, config: &Value) -> Result<(), NotifyError> {
        let ChannelConfig::Slack { webhook_url } = config_of("slack", config)? else {
            return Err(NotifyError::permanent("slack", "not a slack configuration"));
        };
        let url = webhook_url.resolve(env_lookup, "slack", "webhook_url")?;
        self.client
            .post_json("slack", &url, &slack_payload(result))
            .map(|_| ())
            .map_err(|e| scrub(e, &url))
    }
}

/// Triggers PagerDuty incidents (`{"type": "pagerduty", "routing_key": …}`).
#[derive(Debug, Default)]
pub struct PagerDutyNotifier {
    client: HttpClient,
}

impl PagerDutyNotifier {
    /// A notifier with a 10 s timeout.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Notifier for PagerDutyNotifier {
    fn channel(&self) -> &str {
        "pagerduty"
    }
    fn send(&self, result: &AlertResult, config: &Value) -> Result<(), NotifyError> {
        let ChannelConfig::Pagerduty { routing_key, url } = config_of("pagerduty", config)? else {
            return Err(NotifyError::permanent(
                "pagerduty",
                "not a pagerduty configuration",
            ));
        };
        let key = routing_key.resolve(env_lookup, "pagerduty", "routing_key")?;
        let url = url.as_deref().unwrap_or(PAGERDUTY_URL);
        self.client
            .post_json("pagerduty", url, &pagerduty_payload(result, &key))
            .map(|_| ())
            .map_err(|e| scrub(e, &key))
    }
}
