//! Error types, one per API area, each with a stable machine-readable code.
//!
//! Codes are part of the public contract: the Python and Node bindings map on them
//! (`err.code` in JavaScript, an exception subclass with `.code` in Python).

use std::fmt;

/// Where a problem was found inside an alert definition: the alert id and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertError {
    alert_id: String,
    field: String,
    problem: String,
}

impl AlertError {
    /// A new error about `field` of alert `alert_id`.
    pub fn new(
        alert_id: impl Into<String>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            alert_id: alert_id.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }
    /// The id of the alert that was rejected (`<unknown>` when the definition had none).
    pub fn alert_id(&self) -> &str {
        &self.alert_id
    }
    /// The dotted field path inside the definition, e.g. `source_ips.include[1]`.
    pub fn field(&self) -> &str {
        &self.field
    }
    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
    /// Stable code: `invalid_alert`.
    pub fn code(&self) -> &'static str {
        "invalid_alert"
    }
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid alert `{}`: {}", self.alert_id, self.problem)
        } else {
            write!(
                f,
                "invalid alert `{}`: field `{}`: {}",
                self.alert_id, self.field, self.problem
            )
        }
    }
}

impl std::error::Error for AlertError {}

/// Where a record was found in its input, for error messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position {
    /// The file (or other source name), when known.
    pub source: Option<String>,
    /// 1-based line number for JSON Lines input.
    pub line: Option<u64>,
    /// 0-based index of the record inside a `{"Records":[...]}` file.
    pub record: Option<u64>,
    /// Byte offset of the record inside the (decompressed) input.
    pub offset: Option<u64>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(s) = &self.source {
            write!(f, "{s}")?;
            sep = ": ";
        }
        if let Some(l) = self.line {
            write!(f, "{sep}line {l}")?;
            sep = ", ";
        }
        if let Some(r) = self.record {
            write!(f, "{sep}record {r}")?;
            sep = ", ";
        }
        if let Some(o) = self.offset {
            write!(f, "{sep}byte {o}")?;
        }
        Ok(())
    }
}

/// An input record that could not be read as a CloudTrail event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event at {position}: {problem}")]
pub struct EventError {
    position: Position,
    problem: String,
}

impl EventError {
    /// A new error at `position`.
    pub fn new(position: Position, problem: impl Into<String>) -> Self {
        Self {
            position,
            problem: problem.into(),
        }
    }
    /// Where the record was.
    pub fn position(&self) -> &Position {
        &self.position
    }
    /// Mutable access, so readers can add the file name once they know it.
    pub fn position_mut(&mut self) -> &mut Position {
        &mut self.position
    }
    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
    /// Stable code: `invalid_event`.
    pub fn code(&self) -> &'static str {
        "invalid_event"
    }
}

/// A filter pattern (CloudWatch Logs syntax) that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter pattern at character {offset}: {problem}")]
pub struct PatternError {
    offset: usize,
    problem: String,
}

impl PatternError {
    pub(crate) fn new(offset: usize, problem: impl Into<String>) -> Self {
        Self {
            offset,
            problem: problem.into(),
        }
    }
    /// 0-based character offset in the pattern text.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// What is wrong.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

/// Errors from a [`Storage`](crate::Storage) implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The requested item (result, ignore, alert) does not exist.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// What was looked for: `result`, `ignore`, `alert`.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The request itself is invalid (bad filter, bad cursor, bad field).
    #[error("invalid storage request: {0}")]
    Invalid(String),
    /// The backend failed (I/O, corruption, locked, full disk…).
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl StorageError {
    /// Stable code: `not_found`, `invalid_request` or `storage`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Invalid(_) => "invalid_request",
            Self::Backend(_) => "storage",
        }
    }
}

/// Errors from a [`Notifier`](crate::Notifier).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification via {channel} failed: {message}")]
pub struct NotifyError {
    /// The channel type, e.g. `slack`.
    pub channel: String,
    /// What went wrong (never contains a secret).
    pub message: String,
    /// Whether a later retry may succeed (5xx, timeouts) or not (4xx, bad configuration).
    pub retryable: bool,
    /// How long the receiver asked to wait before retrying (`Retry-After`, throttling), in ms.
    pub retry_after_ms: Option<u64>,
}

impl NotifyError {
    /// A failure that retrying cannot fix (bad configuration, 4xx).
    pub fn permanent(channel: &str, message: impl Into<String>) -> Self {
        Self {
            channel: channel.to_owned(),
            message: message.into(),
            retryable: false,
            retry_after_ms: None,
        }
    }
    /// A failure a later attempt may overcome (receiver down, 5xx, timeout).
    pub fn transient(channel: &str, message: impl Into<String>) -> Self {
        Self {
            channel: channel.to_owned(),
            message: message.into(),
            retryable: true,
            retry_after_ms: None,
        }
    }
    /// Asks for the next attempt no sooner than `ms` from now.
    #[must_use]
    pub fn retry_after(mut self, ms: Option<u64>) -> Self {
        self.retry_after_ms = ms;
        self
    }

    /// Stable code: `notification`.
    pub fn code(&self) -> &'static str {
        "notification"
    }
}

/// Any error of the engine, for callers that want one type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An alert definition was rejected.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// An event could not be read.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A storage operation failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A notification failed.
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

impl Error {
    /// The stable code of the wrapped error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Alert(e) => e.code(),
            Self::Event(e) => e.code(),
            Self::Storage(e) => e.code(),
            Self::Notify(e) => e.code(),
        }
    }
}
