//! The delivery outbox: one [`Delivery`] per (result, channel), stored in the same
//! [`Storage::commit`](crate::Storage::commit) as the result, sent by a dispatcher, then
//! marked delivered — or retried with backoff and finally marked failed.
//!
//! Times are epoch milliseconds supplied by the caller (the core reads no clock).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::AlertDef;
use crate::error::NotifyError;
use crate::notify::channel_key;
use crate::result::{AlertResult, stable_id};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// Accepted by the receiver.
    Delivered,
    /// Given up (permanent error, or out of attempts or time).
    Failed,
}

impl DeliveryStatus {
    /// `pending`, `delivered` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
    /// Parses `pending`, `delivered` or `failed`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One notification to deliver: a result for one channel of its alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// Stable id from the result id and channel key: a re-read event never notifies twice.
    pub id: String,
    /// The result's id.
    pub result_id: String,
    /// The alert.
    pub alert_id: String,
    /// Channel key (see [`crate::channel_key`]): `slack`, `email`, `slack#2`…
    pub channel: String,
    /// The channel type (`notifications[].type`).
    pub kind: String,
    /// The `notifications` entry as written (secrets stay `env:NAME` references if so written).
    pub config: Value,
    /// The result to send (kept here so `save_results: false` alerts still notify).
    pub result: AlertResult,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was created (ms).
    pub created_ms: i64,
    /// Earliest time of the next attempt (ms).
    pub next_attempt_ms: i64,
    /// The last error, when an attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Delivery {
    /// The deliveries for one result: one per entry of its alert's `notifications`.
    ///
    /// ```
    /// use trailalerts::{Engine, Event, Delivery};
    /// let alert = serde_json::json!({"id": "stop", "name": "Stop", "risk": "high", "events": ["StopLogging"],
    ///   "notifications": [{"type": "slack", "webhook_url": "env:SLACK"}]});
    /// let mut e = Engine::builder().builtin(false).alerts_json(&alert.to_string()).unwrap().build().unwrap();
    /// let r = e.evaluate(&Event::parse(r#"{"eventName":"StopLogging","eventID":"1"}"#).unwrap()).remove(0);
    /// let d = Delivery::for_result(e.alert("stop").unwrap(), &r, 1_000);
    /// assert_eq!(d.len(), 1);
    /// assert_eq!(d[0].channel, "slack");
    /// ```
    pub fn for_result(def: &AlertDef, r: &AlertResult, now_ms: i64) -> Vec<Delivery> {
        (0..def.notifications.len())
            .filter_map(|i| {
                let config = def.notifications.get(i)?.clone();
                let channel = channel_key(&def.notifications, i);
                let kind = config
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned();
                Some(Delivery {
                    id: stable_id(&[&r.id, &channel]),
                    result_id: r.id.clone(),
                    alert_id: r.alert_id.clone(),
                    channel,
                    kind,
                    config,
                    result: r.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    created_ms: now_ms,
                    next_attempt_ms: now_ms,
                    last_error: None,
                })
            })
            .collect()
    }

    /// The status text shown with a result: `pending` (also while retrying; attempts and the
    /// last error are in the delivery), `delivered`, or `failed: LAST ERROR`.
    pub fn status_text(&self) -> String {
        match (self.status, &self.last_error) {
            (DeliveryStatus::Failed, Some(e)) => format!("failed: {e}"),
            (s, _) => s.as_str().to_owned(),
        }
    }
}

/// A change of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryUpdate {
    /// The delivery.
    pub id: String,
    /// New status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt (ms) when still pending.
    pub next_attempt_ms: i64,
    /// The error of the last attempt.
    pub last_error: Option<String>,
}

/// When to retry and when to give up.
///
/// Backoff is exponential (`base_delay_ms` × 2^(attempt−1), capped at `max_delay_ms`) with
/// jitter: each wait is drawn between half and all of that, from a hash of the delivery id
/// and attempt (deterministic, and spread across deliveries so a recovering receiver is not
/// hit by all of them at once). A receiver's `Retry-After` is honoured when longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts before giving up (≥ 1).
    pub max_attempts: u32,
    /// Age after which a delivery is not retried again (ms since creation).
    pub max_age_ms: i64,
    /// First backoff.
    pub base_delay_ms: i64,
    /// Longest backoff.
    pub max_delay_ms: i64,
}

impl Default for RetryPolicy {
    /// 10 attempts within 24 hours, backoff from 2 s up to 10 minutes.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            max_age_ms: 24 * 3_600_000,
            base_delay_ms: 2_000,
            max_delay_ms: 600_000,
        }
    }
}

impl RetryPolicy {
    /// The update after a successful attempt.
    pub fn delivered(d: &Delivery) -> DeliveryUpdate {
        DeliveryUpdate {
            id: d.id.clone(),
            status: DeliveryStatus::Delivered,
            attempts: d.attempts + 1,
            next_attempt_ms: 0,
            last_error: None,
        }
    }

    /// The backoff before attempt `attempt + 1`, with jitter keyed by `id`.
    ///
    /// ```
    /// let p = trailalerts::RetryPolicy::default();
    /// let d1 = p.backoff_ms("x", 1);
    /// assert!((1_000..=2_000).contains(&d1));
    /// assert!(p.backoff_ms("x", 30) <= 600_000);
    /// ```
    pub fn backoff_ms(&self, id: &str, attempt: u32) -> i64 {
        let exp = self
            .base_delay_ms
            .saturating_mul(1_i64 << attempt.saturating_sub(1).min(40))
            .min(self.max_delay_ms)
            .max(1);
        let h = stable_id(&[id, &attempt.to_string()]);
        let r = u64::from_str_radix(h.get(..8).unwrap_or("0"), 16).unwrap_or(0) % 1_000;
        exp / 2 + (exp / 2) * i64::try_from(r).unwrap_or(0) / 999
    }

    /// The update after a failed attempt at `now_ms`.
    ///
    /// ```
    /// use trailalerts::{RetryPolicy, NotifyError, DeliveryStatus};
    /// # use trailalerts::{Engine, Event, Delivery};
    /// # let alert = serde_json::json!({"id": "a", "name": "A", "risk": "low", "events": ["X"], "notifications": [{"type": "slack", "webhook_url": "env:S"}]});
    /// # let mut e = Engine::builder().builtin(false).alerts_json(&alert.to_string()).unwrap().build().unwrap();
    /// # let r = e.evaluate(&Event::parse(r#"{"eventName":"X"}"#).unwrap()).remove(0);
    /// # let d = Delivery::for_result(e.alert("a").unwrap(), &r, 0).remove(0);
    /// let p = RetryPolicy::default();
    /// let u = p.failed(&d, &NotifyError::transient("slack", "HTTP 503"), 0);
    /// assert_eq!(u.status, DeliveryStatus::Pending);
    /// let u = p.failed(&d, &NotifyError::permanent("slack", "HTTP 400"), 0);
    /// assert_eq!(u.status, DeliveryStatus::Failed);
    /// ```
    pub fn failed(&self, d: &Delivery, err: &NotifyError, now_ms: i64) -> DeliveryUpdate {
        let attempts = d.attempts + 1;
        let mut wait = self.backoff_ms(&d.id, attempts);
        if let Some(ra) = err.retry_after_ms {
            wait = wait.max(i64::try_from(ra).unwrap_or(i64::MAX).min(self.max_age_ms));
        }
        let next = now_ms.saturating_add(wait);
        let out_of_time = next.saturating_sub(d.created_ms) > self.max_age_ms;
        let give_up = !err.retryable || attempts >= self.max_attempts.max(1) || out_of_time;
        let why = if !err.retryable {
            String::new()
        } else if attempts >= self.max_attempts.max(1) {
            format!(" (gave up after {attempts} attempts)")
        } else if out_of_time {
            " (gave up: too old to retry)".to_owned()
        } else {
            String::new()
        };
        DeliveryUpdate {
            id: d.id.clone(),
            status: if give_up {
                DeliveryStatus::Failed
            } else {
                DeliveryStatus::Pending
            },
            attempts,
            next_attempt_ms: if give_up { 0 } else { next },
            last_error: Some(format!("{}{why}", err.message)),
        }
    }
}
