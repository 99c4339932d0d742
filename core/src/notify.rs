//! The `Notifier` trait and an in-memory implementation.
//!
//! A notifier delivers one result to one channel (an entry of an alert's `notifications`
//! list). Network channels live in `trailalerts-adapters`; the core never does I/O.

use std::sync::Mutex;

use serde_json::Value;

use crate::error::NotifyError;
use crate::result::AlertResult;

/// Delivers results to a channel type (`slack`, `email`, …).
pub trait Notifier: Send + Sync {
    /// The channel type this notifier handles, as written in `notifications[].type`.
    fn channel(&self) -> &str;
    /// Delivers `result` using the channel configuration `config`.
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
        Self { channel: channel.into(), sent: Mutex::new(Vec::new()) }
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
            .map_err(|_| NotifyError { channel: self.channel.clone(), message: "notifier state poisoned".into(), retryable: false })?
            .push((result.clone(), config.clone()));
        Ok(())
    }
}
