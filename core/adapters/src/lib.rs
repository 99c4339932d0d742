//! Reference adapters for [`trailalerts`]: each behind its own cargo feature, none on by default.
//!
//! - `files`: read CloudTrail log files (`.json`, `.json.gz`, JSON Lines, directories) and scan
//!   them with an engine.
//! - `sqlite`: [`trailalerts::Storage`] in one SQLite file (bundled SQLite).
//! - `slack`, `pagerduty`, `syslog`, `email`, `sns`, `lambda` (all: `notifiers`): the
//!   notification channels, delivered from the storage's outbox by
//!   [`notify::Dispatcher`] (feature `notify`).
//! - `sqs`: the live pipeline [`sqs::Watcher`]: SQS messages (S3 notifications, SNS,
//!   EventBridge, raw records) → engine → storage → notifications.

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "files")]
pub mod files;
#[cfg(feature = "notify")]
pub mod notify;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqs")]
pub mod sqs;
